/*
 * s3_xml.c - S3 XML documents with libxml2's tree API.
 *
 * Responses are small (a list page of 1000 keys is ~300 KiB), so each is
 * parsed into a tree, walked by element local name, and freed. Every parse
 * starts in xml_open(), which also recognises an <Error> document wherever
 * one may appear, so no caller can mistake an error inside a 200 for success.
 * The parser is configured to never fetch anything (XML_PARSE_NONET, no
 * entity substitution) and never print (errors are returned in the message).
 */
#include "config.h"
#include "objstore/s3_xml.h"
#include "objstore/objstore_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#define XML_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

void s3_xml_init(void)
{
	xmlInitParser();
}

static bool is_named(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* First element child of parent named name, or NULL. */
static xmlNode *child(const xmlNode *parent, const char *name)
{
	xmlNode *n;

	for (n = parent ? parent->children : NULL; n; n = n->next) {
		if (is_named(n, name))
			return n;
	}
	return NULL;
}

/* Next element sibling after n with the same name, or NULL. */
static xmlNode *next_named(const xmlNode *n)
{
	const char *name = (const char *)n->name;

	for (n = n->next; n; n = n->next) {
		if (is_named(n, name))
			return (xmlNode *)n;
	}
	return NULL;
}

/* Text of the child element name as a malloc'd string (*out NULL when the
 * element is absent). 0 or ENOMEM. */
static int child_dup(const xmlNode *parent, const char *name, char **out)
{
	xmlNode *n = child(parent, name);
	xmlChar *text;

	*out = NULL;
	if (!n)
		return 0;
	text = xmlNodeGetContent(n);
	*out = strdup(text ? (const char *)text : "");
	xmlFree(text);
	return *out ? 0 : ENOMEM;
}

/* Copies the text of child name into out (size n); "" when absent. */
static void child_copy(const xmlNode *parent, const char *name, char *out, size_t n)
{
	xmlNode *c = child(parent, name);
	xmlChar *text = c ? xmlNodeGetContent(c) : NULL;

	snprintf(out, n, "%s", text ? (const char *)text : "");
	xmlFree(text);
}

static bool child_true(const xmlNode *parent, const char *name)
{
	char v[8];

	child_copy(parent, name, v, sizeof(v));
	return strcmp(v, "true") == 0;
}

static void set_message(struct s3_xml_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_message(struct s3_xml_error *err, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	err->code[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	/* libxml2 messages end in a newline */
	n = strlen(err->message);
	while (n && err->message[n - 1] == '\n')
		err->message[--n] = '\0';
}

/*
 * Parses data and checks its root element is `expect` (NULL: any). An
 * <Error> root gives EREMOTEIO with err filled; any other unexpected root or
 * malformed XML gives EIO.
 */
static int xml_open(const char *data, size_t len, const char *expect, xmlDoc **doc,
		    xmlNode **root, struct s3_xml_error *err)
{
	const xmlError *xe;

	err->code[0] = '\0';
	err->message[0] = '\0';
	if (len == 0 || len > INT_MAX) {
		set_message(err, "malformed XML response: %s", len ? "too large" : "empty body");
		return EIO;
	}
	*doc = xmlReadMemory(data, (int)len, NULL, NULL, XML_OPTS);
	if (!*doc) {
		xe = xmlGetLastError();
		set_message(err, "malformed XML response: %s",
			    xe && xe->message ? xe->message : "parse error");
		return EIO;
	}
	*root = xmlDocGetRootElement(*doc);
	if (is_named(*root, "Error")) {
		child_copy(*root, "Code", err->code, sizeof(err->code));
		child_copy(*root, "Message", err->message, sizeof(err->message));
		xmlFreeDoc(*doc);
		return EREMOTEIO;
	}
	if (!*root || (expect && !is_named(*root, expect))) {
		set_message(err, "unexpected XML response: root element is not <%s>",
			    expect ? expect : "any");
		xmlFreeDoc(*doc);
		return EIO;
	}
	return 0;
}

int s3_xml_parse_error(const char *data, size_t len, struct s3_xml_error *err)
{
	xmlDoc *doc;
	xmlNode *root;
	int rc = xml_open(data, len, NULL, &doc, &root, err);

	/* xml_open() reports an <Error> root as EREMOTEIO: here that is success */
	if (rc == EREMOTEIO)
		return 0;
	if (rc == 0) {
		xmlFreeDoc(doc);
		set_message(err, "unexpected XML response: %s", "not an <Error> document");
	}
	return EIO;
}

int s3_url_decode(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '+') {
			*w++ = ' ';
		} else if (*s == '%') {
			int hi = os_unhex(s[1]), lo = hi < 0 ? -1 : os_unhex(s[2]);

			if (lo < 0)
				return EINVAL;
			*w++ = (char)(hi << 4 | lo);
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
	return 0;
}

int s3_parse_iso8601(const char *s, int64_t *ns)
{
	struct tm tm;
	const char *p;
	int64_t frac = 0, scale = 100000000;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return EINVAL;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return EINVAL;
	t = timegm(&tm);
	/* a date whose nanoseconds do not fit 64 bits (past 2262) is no S3 date */
	if (t == (time_t)-1 || t < 0 || (int64_t)t > INT64_MAX / 1000000000 - 1)
		return EINVAL;
	*ns = (int64_t)t * 1000000000 + frac;
	return 0;
}

void s3_etag_copy(char out[OS_ETAG_MAX], const char *etag, size_t len)
{
	if (len >= 2 && etag[0] == 'W' && etag[1] == '/') {
		etag += 2;
		len -= 2;
	}
	if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"') {
		etag++;
		len -= 2;
	}
	if (len >= OS_ETAG_MAX)
		len = OS_ETAG_MAX - 1;
	memcpy(out, etag, len);
	out[len] = '\0';
}

static void child_etag(const xmlNode *parent, char etag[OS_ETAG_MAX])
{
	char raw[OS_ETAG_MAX + 8];

	child_copy(parent, "ETag", raw, sizeof(raw));
	s3_etag_copy(etag, raw, strlen(raw));
}

static size_t count_named(const xmlNode *root, const char *name)
{
	size_t n = 0;
	xmlNode *c;

	for (c = child(root, name); c; c = next_named(c))
		n++;
	return n;
}

/* Decodes a key/prefix in place when the response is URL-encoded. */
static int maybe_decode(char *s, bool url_encoded, struct s3_xml_error *err)
{
	if (!url_encoded || !s || s3_url_decode(s) == 0)
		return 0;
	set_message(err, "malformed XML response: bad URL encoding in \"%s\"", s);
	return EIO;
}

static int parse_entry(const xmlNode *c, bool url_encoded, struct os_list_entry *e,
		       struct s3_xml_error *err)
{
	char num[32], date[64];

	if (child_dup(c, "Key", &e->key))
		return ENOMEM;
	if (!e->key) {
		set_message(err, "malformed XML response: %s", "<Contents> without <Key>");
		return EIO;
	}
	child_copy(c, "Size", num, sizeof(num));
	e->size = strtoull(num, NULL, 10);
	child_copy(c, "LastModified", date, sizeof(date));
	if (s3_parse_iso8601(date, &e->mtime_ns))
		e->mtime_ns = 0;
	child_etag(c, e->etag);
	return maybe_decode(e->key, url_encoded, err);
}

static int parse_list_doc(const xmlNode *root, bool url_encoded, struct os_list_page *out,
			  struct s3_xml_error *err)
{
	size_t ne = count_named(root, "Contents"), np = count_named(root, "CommonPrefixes");
	xmlNode *c;
	int rc;

	out->entries = calloc(ne ? ne : 1, sizeof(*out->entries));
	out->prefixes = calloc(np ? np : 1, sizeof(*out->prefixes));
	if (!out->entries || !out->prefixes)
		return ENOMEM;
	for (c = child(root, "Contents"); c; c = next_named(c)) {
		rc = parse_entry(c, url_encoded, &out->entries[out->n_entries], err);
		if (out->entries[out->n_entries].key)
			out->n_entries++;
		if (rc)
			return rc;
	}
	for (c = child(root, "CommonPrefixes"); c; c = next_named(c)) {
		char **p = &out->prefixes[out->n_prefixes];

		if (child_dup(c, "Prefix", p))
			return ENOMEM;
		if (!*p)
			continue;
		out->n_prefixes++;
		rc = maybe_decode(*p, url_encoded, err);
		if (rc)
			return rc;
	}
	if (child_true(root, "IsTruncated")) {
		if (child_dup(root, "NextContinuationToken", &out->next_token))
			return ENOMEM;
		if (!out->next_token || !*out->next_token) {
			set_message(err, "malformed XML response: %s",
				    "truncated list without NextContinuationToken");
			return EIO;
		}
	}
	return 0;
}

/* Whether the server URL-encoded the names in this document. */
static bool url_encoded(const xmlNode *root)
{
	char v[8];

	child_copy(root, "EncodingType", v, sizeof(v));
	return strcmp(v, "url") == 0;
}

int s3_xml_parse_list(const char *data, size_t len, struct os_list_page *out,
		      struct s3_xml_error *err)
{
	xmlDoc *doc;
	xmlNode *root;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = xml_open(data, len, "ListBucketResult", &doc, &root, err);
	if (rc)
		return rc;
	rc = parse_list_doc(root, url_encoded(root), out, err);
	xmlFreeDoc(doc);
	if (rc)
		os_list_page_release(out);
	return rc;
}

int s3_xml_parse_upload_id(const char *data, size_t len, char **upload_id,
			   struct s3_xml_error *err)
{
	xmlDoc *doc;
	xmlNode *root;
	int rc;

	*upload_id = NULL;
	rc = xml_open(data, len, "InitiateMultipartUploadResult", &doc, &root, err);
	if (rc)
		return rc;
	rc = child_dup(root, "UploadId", upload_id);
	xmlFreeDoc(doc);
	if (rc == 0 && (!*upload_id || !**upload_id)) {
		free(*upload_id);
		*upload_id = NULL;
		set_message(err, "malformed XML response: %s", "no UploadId");
		rc = EIO;
	}
	return rc;
}

int s3_xml_parse_etag(const char *data, size_t len, char etag[OS_ETAG_MAX],
		      struct s3_xml_error *err)
{
	static const char *const roots[] = {
		"CompleteMultipartUploadResult", "CopyObjectResult", "CopyPartResult",
	};
	xmlDoc *doc;
	xmlNode *root;
	size_t i;
	int rc;

	etag[0] = '\0';
	rc = xml_open(data, len, NULL, &doc, &root, err);
	if (rc)
		return rc;
	for (i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		if (is_named(root, roots[i]))
			break;
	}
	if (i < sizeof(roots) / sizeof(roots[0]))
		child_etag(root, etag);
	else
		set_message(err, "unexpected XML response: root element <%s>",
			    (const char *)root->name);
	xmlFreeDoc(doc);
	return i < sizeof(roots) / sizeof(roots[0]) ? 0 : EIO;
}

int s3_xml_parse_delete(const char *data, size_t len, size_t *n_errors,
			struct s3_xml_error *first, struct s3_xml_error *err)
{
	xmlDoc *doc;
	xmlNode *root, *c;
	struct s3_xml_error e;
	int rc;

	*n_errors = 0;
	memset(first, 0, sizeof(*first));
	rc = xml_open(data, len, "DeleteResult", &doc, &root, err);
	if (rc)
		return rc;
	for (c = child(root, "Error"); c; c = next_named(c)) {
		child_copy(c, "Code", e.code, sizeof(e.code));
		if (strcmp(e.code, "NoSuchKey") == 0)
			continue;
		child_copy(c, "Message", e.message, sizeof(e.message));
		if (!e.message[0])
			child_copy(c, "Key", e.message, sizeof(e.message));
		if ((*n_errors)++ == 0)
			*first = e;
	}
	xmlFreeDoc(doc);
	return 0;
}

static int parse_upload(const xmlNode *c, bool url_encoded, struct os_upload_list *out,
			struct s3_xml_error *err)
{
	struct os_upload_ref *u = &out->uploads[out->n];
	char date[64];

	child_copy(c, "Initiated", date, sizeof(date));
	if (s3_parse_iso8601(date, &u->initiated_ns))
		u->initiated_ns = 0;
	if (child_dup(c, "Key", &u->key) || child_dup(c, "UploadId", &u->upload_id))
		goto out_free;
	if (!u->key || !u->upload_id) {
		set_message(err, "malformed XML response: %s", "<Upload> without Key/UploadId");
		goto out_free;
	}
	if (maybe_decode(u->key, url_encoded, err))
		goto out_free;
	out->n++;
	return 0;
out_free:
	free(u->key);
	free(u->upload_id);
	u->key = u->upload_id = NULL;
	return err->message[0] ? EIO : ENOMEM;
}

static int parse_uploads_doc(const xmlNode *root, bool url_encoded,
			     struct os_upload_list *out, char **next_key, char **next_id,
			     struct s3_xml_error *err)
{
	size_t n = count_named(root, "Upload");
	struct os_upload_ref *grown;
	xmlNode *c;
	int rc;

	grown = realloc(out->uploads, (out->n + n + 1) * sizeof(*grown));
	if (!grown)
		return ENOMEM;
	out->uploads = grown;
	for (c = child(root, "Upload"); c; c = next_named(c)) {
		rc = parse_upload(c, url_encoded, out, err);
		if (rc)
			return rc;
	}
	if (!child_true(root, "IsTruncated"))
		return 0;
	if (child_dup(root, "NextKeyMarker", next_key) ||
	    child_dup(root, "NextUploadIdMarker", next_id))
		return ENOMEM;
	if (!*next_key) {
		set_message(err, "malformed XML response: %s",
			    "truncated upload list without NextKeyMarker");
		return EIO;
	}
	return maybe_decode(*next_key, url_encoded, err);
}

int s3_xml_parse_uploads(const char *data, size_t len, struct os_upload_list *out,
			 char **next_key, char **next_id, struct s3_xml_error *err)
{
	xmlDoc *doc;
	xmlNode *root;
	int rc;

	*next_key = *next_id = NULL;
	rc = xml_open(data, len, "ListMultipartUploadsResult", &doc, &root, err);
	if (rc)
		return rc;
	rc = parse_uploads_doc(root, url_encoded(root), out, next_key, next_id, err);
	xmlFreeDoc(doc);
	if (rc) {
		free(*next_key);
		free(*next_id);
		*next_key = *next_id = NULL;
	}
	return rc;
}

/* Appends s XML-escaped. EILSEQ for a control character XML 1.0 cannot
 * carry (other than tab, newline, carriage return). */
static int append_escaped(struct buf *out, const char *s)
{
	int rc = 0;

	for (; *s && !rc; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&': rc = buf_append_str(out, "&amp;"); break;
		case '<': rc = buf_append_str(out, "&lt;"); break;
		case '>': rc = buf_append_str(out, "&gt;"); break;
		case '"': rc = buf_append_str(out, "&quot;"); break;
		case '\'': rc = buf_append_str(out, "&apos;"); break;
		case '\t': case '\n': case '\r': rc = buf_appendf(out, "&#%d;", c); break;
		default:
			if (c < 0x20 || c == 0x7f)
				return EILSEQ;
			rc = buf_append(out, s, 1);
		}
	}
	return rc;
}

int s3_xml_complete_body(struct buf *out, const struct os_part *parts, size_t n)
{
	size_t i;
	int rc;

	if (buf_append_str(out, "<CompleteMultipartUpload>"))
		return ENOMEM;
	for (i = 0; i < n; i++) {
		if (buf_appendf(out, "<Part><PartNumber>%d</PartNumber><ETag>\"",
				parts[i].number))
			return ENOMEM;
		rc = append_escaped(out, parts[i].etag);
		if (rc)
			return rc;
		if (buf_append_str(out, "\"</ETag></Part>"))
			return ENOMEM;
	}
	return buf_append_str(out, "</CompleteMultipartUpload>");
}

int s3_xml_delete_body(struct buf *out, const char *const *keys, size_t n, bool quiet)
{
	size_t i;
	int rc;

	if (buf_appendf(out, "<Delete>%s", quiet ? "<Quiet>true</Quiet>" : ""))
		return ENOMEM;
	for (i = 0; i < n; i++) {
		if (buf_append_str(out, "<Object><Key>"))
			return ENOMEM;
		rc = append_escaped(out, keys[i]);
		if (rc)
			return rc;
		if (buf_append_str(out, "</Key></Object>"))
			return ENOMEM;
	}
	return buf_append_str(out, "</Delete>");
}
