/*
 * s3.c - the S3 backend of the object-store interface.
 *
 * Each op builds one S3 request (struct s3_req: method, key, query
 * parameters, headers), s3_send() signs it with SigV4 and hands it to the
 * libcurl pool (s3_http.c), and XML replies are parsed by s3_xml.c. This file
 * knows S3's REST API; it knows nothing of libcurl, and it never maps an
 * error itself: every failure of the server or the wire goes through
 * s3_error_map(), including an <Error> document inside a 200 and a
 * malformed reply. (Failures on this side, ENOMEM or no credentials, are
 * errno values already: local_error() only logs them.)
 *
 * Addressing: path style sends https://host/BUCKET/KEY, virtual-hosted style
 * https://BUCKET.host/KEY (awsconf decides). Keys are URI-encoded with '/'
 * kept, and libcurl is told not to normalise "." or ".." segments, so any
 * S3 key round-trips. Listings ask for encoding-type=url so keys with
 * control characters survive XML.
 *
 * Integrity: request bodies are signed with their real SHA-256 (the server
 * checks it); DeleteObjects also carries the Content-MD5 S3 demands. GET
 * bodies are checked for length by s3_http.c.
 *
 * Retries are not here: the retry wrapper above retries what
 * os_error_is_transient() says.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "objstore/awsconf.h"
#include "objstore/objstore_impl.h"
#include "objstore/s3_http.h"
#include "objstore/s3_xml.h"
#include "objstore/sigv4.h"
#include "util/buf.h"
#include "util/log.h"

#define MAX_PARAMS 8
#define BASE_HEADERS 16			/* headers besides user metadata */
#define META_PREFIX "x-amz-meta-"
#define MPU_LIST_MAX_PAGES 10000	/* bounds the upload-list loop */
#define OBJECT_CONTENT_TYPE "application/octet-stream"
/* Copies and completions are done by the server before it answers (S3 sends
 * keep-alive blanks, others may send nothing): allow them this long. */
#define SERVER_WORK_TIMEOUT_MS (10 * 60 * 1000)

struct s3_store {
	struct objstore base;		/* first: the objstore ops see this */
	struct awsconf conf;
	struct creds_provider *creds;
	struct s3_http *http;
	char *bucket;
	char *host;			/* Host header: host[:port] or bucket.host[:port] */
	char *base_url;			/* scheme://Host */
	const char *path_prefix;	/* "/BUCKET" (path style) or "" */
	char *path_prefix_buf;		/* owned storage of path_prefix */
};

/* One request being built. Header names are lower-case: they are signed. */
struct s3_req {
	const char *op;			/* for log lines */
	const char *key;		/* object key, or NULL for a bucket request */
	const char *what;		/* names the request in log lines, if not key */
	const char *method;
	struct sigv4_param params[MAX_PARAMS];
	size_t n_params;
	struct sigv4_header *hdr;	/* owned array */
	size_t n_hdr, cap_hdr;
	char **owned;			/* strings owned by the request */
	size_t n_owned;
	const void *body;		/* borrowed */
	size_t body_len;
	int err;			/* first error while building, sticky */
	const char *err_what;		/* what it was, for the log (NULL: generic) */
};

static struct s3_store *s3(struct objstore *s)
{
	return (struct s3_store *)s;
}

/* The name a log line gives the request. */
static const char *req_name(const struct s3_req *rq)
{
	return rq->what ? rq->what : rq->key;
}

/* --- building requests --- */

static void req_init(struct s3_req *rq, const char *op, const char *method,
		     const char *key, const struct os_meta *meta)
{
	size_t cap = BASE_HEADERS + (meta ? meta->n : 0);

	memset(rq, 0, sizeof(*rq));
	rq->op = op;
	rq->method = method;
	rq->key = key;
	rq->hdr = calloc(cap, sizeof(*rq->hdr));
	rq->owned = calloc(cap, sizeof(*rq->owned));
	rq->cap_hdr = cap;
	if (!rq->hdr || !rq->owned)
		rq->err = ENOMEM;
}

static void req_release(struct s3_req *rq)
{
	size_t i;

	/* owned strings may hold the session token */
	for (i = 0; i < rq->n_owned; i++) {
		OPENSSL_cleanse(rq->owned[i], strlen(rq->owned[i]));
		free(rq->owned[i]);
	}
	free(rq->owned);
	free(rq->hdr);
}

static void req_param(struct s3_req *rq, const char *name, const char *value)
{
	if (rq->n_params == MAX_PARAMS) {
		rq->err = EINVAL;	/* a bug in this file, not the caller's */
		return;
	}
	rq->params[rq->n_params].name = name;
	rq->params[rq->n_params++].value = value;
}

/* Adds a header; name and value are borrowed. */
static void req_header(struct s3_req *rq, const char *name, const char *value)
{
	if (rq->err)
		return;
	if (rq->n_hdr == rq->cap_hdr) {
		rq->err = EINVAL;
		return;
	}
	rq->hdr[rq->n_hdr].name = name;
	rq->hdr[rq->n_hdr++].value = value;
}

/* Keeps s (malloc'd, may be NULL on ENOMEM) until the request is released. */
static char *req_own(struct s3_req *rq, char *s)
{
	if (!s || rq->n_owned == rq->cap_hdr) {
		free(s);
		rq->err = ENOMEM;
		return NULL;
	}
	rq->owned[rq->n_owned++] = s;
	return s;
}

static void req_headerf(struct s3_req *rq, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void req_headerf(struct s3_req *rq, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *v;

	va_start(ap, fmt);
	if (vasprintf(&v, fmt, ap) < 0)
		v = NULL;
	va_end(ap);
	v = req_own(rq, v);
	if (v)
		req_header(rq, name, v);
}

/* HTTP token characters (RFC 9110): what a header name may hold. */
static bool is_token(const char *s)
{
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	}
	return true;
}

/* A header value must not hold control characters (CR LF would even start
 * a header of the caller's choosing); tab is allowed. */
static bool is_header_value(const char *s)
{
	for (; *s; s++) {
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return false;
	}
	return true;
}

/* User metadata as x-amz-meta-NAME headers (names are lower-case already),
 * and the Content-Type every object gets: without it libcurl would label a
 * POST (CreateMultipartUpload) as a form, and S3 keeps that type. Metadata
 * HTTP cannot carry makes the request fail with EINVAL. */
static void req_meta(struct s3_req *rq, const struct os_meta *meta)
{
	size_t i;
	char *name;

	req_header(rq, "content-type", OBJECT_CONTENT_TYPE);
	for (i = 0; meta && i < meta->n; i++) {
		if (!*meta->kv[i].name || !is_token(meta->kv[i].name) ||
		    !is_header_value(meta->kv[i].value)) {
			rq->err = EINVAL;
			rq->err_what = "a metadata name or value has characters HTTP cannot carry";
			return;
		}
		name = NULL;
		if (asprintf(&name, META_PREFIX "%s", meta->kv[i].name) < 0)
			name = NULL;
		name = req_own(rq, name);
		if (name)
			req_header(rq, name, meta->kv[i].value);
	}
}

/* x-amz-copy-source: /BUCKET/KEY, URI-encoded. */
static void req_copy_source(struct s3_req *rq, struct s3_store *s, const char *src)
{
	struct buf b = BUF_INIT;

	if (buf_append_str(&b, "/") || sigv4_uri_encode(&b, s->bucket, strlen(s->bucket), true) ||
	    buf_append_str(&b, "/") || sigv4_uri_encode(&b, src, strlen(src), true)) {
		buf_release(&b);
		rq->err = ENOMEM;
		return;
	}
	req_header(rq, "x-amz-copy-source", req_own(rq, buf_detach(&b)));
}

/* --- sending --- */

/* A failure on this side of the wire (no memory, no credentials): it is an
 * errno already, so it is only logged. */
static int local_error(const struct s3_req *rq, int rc, const char *what)
{
	char k[160];

	s3_printable(k, sizeof(k), req_name(rq));
	log_msg(LOG_ERR, "s3 %s%s%s: %s: %s", rq->op, *k ? " " : "", k, what, strerror(rc));
	return rc;
}

/* The URL path and query of rq, as signed and as sent. */
static int req_target(struct s3_store *s, const struct s3_req *rq, struct buf *path,
		      struct buf *query)
{
	if (buf_append_str(path, s->path_prefix))
		return ENOMEM;
	if (rq->key) {
		if (buf_append_str(path, "/") ||
		    sigv4_uri_encode(path, rq->key, strlen(rq->key), true))
			return ENOMEM;
	} else if (!path->len && buf_append_str(path, "/")) {
		return ENOMEM;
	}
	return sigv4_canonical_query(query, rq->params, rq->n_params);
}

/* Adds the signing headers and returns the Authorization value in auth
 * (empty for anonymous requests). */
static int req_sign(struct s3_store *s, struct s3_req *rq, const char *path,
		    const char *query, struct buf *auth, char hash[SIGV4_HEX_LEN + 1])
{
	struct s3_creds creds;
	struct sigv4_request sr;
	struct sigv4_key key;
	char date[17];
	int rc;

	memset(&creds, 0, sizeof(creds));
	rc = creds_get(s->creds, &creds);
	if (rc)
		return rc;
	req_header(rq, "host", s->host);
	if (creds.access_key) {
		sigv4_amz_date((long long)time(NULL), date);
		if (rq->body)
			sigv4_sha256_hex(rq->body, rq->body_len, hash);
		else
			memcpy(hash, SIGV4_EMPTY_SHA256, sizeof(SIGV4_EMPTY_SHA256));
		req_headerf(rq, "x-amz-date", "%s", date);
		req_header(rq, "x-amz-content-sha256", hash);
		if (creds.session_token)
			req_headerf(rq, "x-amz-security-token", "%s", creds.session_token);
	}
	rc = rq->err;
	if (!rc && creds.access_key) {
		sr = (struct sigv4_request){ .method = rq->method, .path = path, .query = query,
					     .headers = rq->hdr, .n_headers = rq->n_hdr,
					     .payload_hash = hash };
		key = (struct sigv4_key){ .access_key = creds.access_key,
					  .secret_key = creds.secret_key,
					  .region = s->conf.region, .service = "s3" };
		rc = sigv4_authorization(&sr, &key, date, auth, NULL);
	}
	s3_creds_release(&creds);
	return rc;
}

/*
 * Signs and runs rq. hr carries the caller's body handling (sink, range...);
 * the rest of it is filled here. Returns s3_http_perform()'s result.
 */
static int s3_send(struct s3_store *s, struct s3_req *rq, struct s3_http_request *hr,
		   struct s3_http_response *resp)
{
	struct buf path = BUF_INIT, query = BUF_INIT, url = BUF_INIT, auth = BUF_INIT;
	struct s3_http_header *hh = NULL;
	char hash[SIGV4_HEX_LEN + 1];
	size_t i;
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (rq->err) {
		rc = local_error(rq, rq->err, rq->err_what ? rq->err_what :
				 "cannot build the request");
		goto out_free;
	}
	rc = req_target(s, rq, &path, &query);
	if (!rc)
		rc = req_sign(s, rq, path.data, query.data ? query.data : "", &auth, hash);
	if (!rc && buf_appendf(&url, "%s%s%s%s", s->base_url, path.data, query.len ? "?" : "",
			       query.len ? query.data : ""))
		rc = ENOMEM;
	if (!rc && !(hh = calloc(rq->n_hdr + 1, sizeof(*hh))))
		rc = ENOMEM;
	if (rc) {
		rc = local_error(rq, rc, "cannot sign the request");
		goto out_free;
	}
	for (i = 0; i < rq->n_hdr; i++)
		hh[i] = (struct s3_http_header){ rq->hdr[i].name, rq->hdr[i].value };
	if (auth.len)
		hh[i++] = (struct s3_http_header){ "authorization", auth.data };
	hr->op = rq->op;
	hr->key = req_name(rq);
	hr->method = rq->method;
	hr->url = url.data;
	hr->headers = hh;
	hr->n_headers = i;
	hr->body = rq->body;
	hr->body_len = rq->body_len;
	rc = s3_http_perform(s->http, hr, resp);
out_free:
	free(hh);
	if (auth.data)
		OPENSSL_cleanse(auth.data, auth.len);
	buf_release(&auth);
	buf_release(&url);
	buf_release(&query);
	buf_release(&path);
	return rc;
}

/* Sends rq whose reply body is collected (not streamed). */
static int s3_call(struct s3_store *s, struct s3_req *rq, struct s3_http_response *resp)
{
	struct s3_http_request hr;

	memset(&hr, 0, sizeof(hr));
	return s3_send(s, rq, &hr, resp);
}

/* Turns the result of an s3_xml parse into the op's errno (through the one
 * mapping function, so an <Error> in a 200 and malformed XML are logged). */
static int parse_result(const struct s3_req *rq, int rc, const struct s3_xml_error *e,
			long status)
{
	if (rc == 0)
		return 0;
	if (rc == ENOMEM)
		return local_error(rq, rc, "cannot parse the reply");
	return s3_error_map(rq->op, req_name(rq), 0, NULL, 0, status,
			    rc == EREMOTEIO ? e->code : NULL, e->message);
}

/* --- object ops --- */

static int s3_head(struct objstore *os, const char *key, struct os_stat *st)
{
	struct s3_store *s = s3(os);
	struct s3_http_request hr;
	struct s3_http_response resp;
	struct s3_req rq;
	int rc;

	req_init(&rq, "head", "HEAD", key, NULL);
	memset(&hr, 0, sizeof(hr));
	hr.want_meta = true;
	rc = s3_send(s, &rq, &hr, &resp);
	if (rc == 0) {
		st->size = resp.content_length;
		st->mtime_ns = resp.last_modified_ns;
		memcpy(st->etag, resp.etag, sizeof(st->etag));
		st->meta = resp.meta;	/* moved */
		memset(&resp.meta, 0, sizeof(resp.meta));
	}
	s3_http_response_release(&resp);
	req_release(&rq);
	return rc;
}

/* A zero-length read still says whether the object (and ETag) is there and
 * whether off is inside it. */
static int get_nothing(struct objstore *os, const char *key, uint64_t off, const char *etag)
{
	struct os_stat st;
	int rc;

	memset(&st, 0, sizeof(st));
	rc = s3_head(os, key, &st);
	if (!rc && etag && strcmp(etag, st.etag) != 0)
		rc = ESTALE;
	if (!rc && off >= st.size && !(off == 0 && st.size == 0))
		rc = EINVAL;
	os_stat_release(&st);
	return rc;
}

static int s3_get(struct objstore *os, const char *key, uint64_t off, uint64_t len,
		  const char *etag, os_sink_fn sink, void *arg)
{
	struct s3_store *s = s3(os);
	struct s3_http_request hr;
	struct s3_http_response resp;
	struct s3_req rq;
	int rc;

	if (len == 0)
		return get_nothing(os, key, off, etag);
	req_init(&rq, "get", "GET", key, NULL);
	memset(&hr, 0, sizeof(hr));
	hr.sink = sink;
	hr.sink_arg = arg;
	if (off != 0 || len != OS_RANGE_TO_END) {
		hr.ranged = true;
		hr.range_off = off;
		hr.empty_ok = off == 0;
		if (len == OS_RANGE_TO_END)
			req_headerf(&rq, "range", "bytes=%llu-", (unsigned long long)off);
		else
			req_headerf(&rq, "range", "bytes=%llu-%llu", (unsigned long long)off,
				    (unsigned long long)(off + len - 1));
	}
	if (etag)
		req_headerf(&rq, "if-match", "\"%s\"", etag);
	rc = s3_send(s, &rq, &hr, &resp);
	s3_http_response_release(&resp);
	req_release(&rq);
	return rc;
}

static void copy_etag(char etag_out[OS_ETAG_MAX], const char *etag)
{
	if (etag_out)
		snprintf(etag_out, OS_ETAG_MAX, "%s", etag);
}

static int s3_put(struct objstore *os, const char *key, const void *data, size_t len,
		  const struct os_meta *meta, char etag_out[OS_ETAG_MAX])
{
	struct s3_http_response resp;
	struct s3_req rq;
	int rc;

	req_init(&rq, "put", "PUT", key, meta);
	req_meta(&rq, meta);
	rq.body = data;
	rq.body_len = len;
	rc = s3_call(s3(os), &rq, &resp);
	if (rc == 0)
		copy_etag(etag_out, resp.etag);
	s3_http_response_release(&resp);
	req_release(&rq);
	return rc;
}

static int s3_del(struct objstore *os, const char *key)
{
	struct s3_http_response resp;
	struct s3_req rq;
	int rc;

	req_init(&rq, "delete", "DELETE", key, NULL);
	rc = s3_call(s3(os), &rq, &resp);
	s3_http_response_release(&resp);
	req_release(&rq);
	return rc == ENOENT ? 0 : rc;
}

/* Keys XML cannot carry are deleted one request each. */
static int del_one_by_one(struct objstore *os, const char *const *keys, size_t n)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		rc = s3_del(os, keys[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static int md5_base64(const void *data, size_t len, char out[32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL))
		return EIO;
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
	return 0;
}

static int s3_del_many(struct objstore *os, const char *const *keys, size_t n)
{
	struct s3_http_response resp;
	struct s3_xml_error e, first;
	struct buf body = BUF_INIT;
	struct s3_req rq;
	char md5[32];
	size_t n_err = 0;
	int rc;

	if (n == 0)
		return 0;
	rc = s3_xml_delete_body(&body, keys, n, true);
	if (rc == EILSEQ) {
		buf_release(&body);
		return del_one_by_one(os, keys, n);
	}
	req_init(&rq, "delete_many", "POST", NULL, NULL);
	if (rc || md5_base64(body.data, body.len, md5))
		rq.err = ENOMEM;
	req_param(&rq, "delete", NULL);
	req_header(&rq, "content-md5", md5);
	req_header(&rq, "content-type", "application/xml");
	rq.body = body.data;
	rq.body_len = body.len;
	rc = s3_call(s3(os), &rq, &resp);
	if (rc == 0) {
		rc = s3_xml_parse_delete(resp.body.data, resp.body.len, &n_err, &first, &e);
		rc = parse_result(&rq, rc, &e, resp.status);
	}
	if (rc == 0 && n_err)
		rc = s3_error_map(rq.op, NULL, 0, NULL, 0, resp.status, first.code,
				  first.message);
	s3_http_response_release(&resp);
	req_release(&rq);
	buf_release(&body);
	return rc;
}

/* For replies whose XML body holds the result ETag (copy, copy part,
 * complete), which the server may take long to send: a 2xx is success only
 * if the body says so. The ETag comes from
 * the body, else from the ETag header; it may be "" (radosgw leaves the
 * ETag of CompleteMultipartUploadResult empty). */
static int call_for_etag(struct s3_store *s, struct s3_req *rq, char etag_out[OS_ETAG_MAX])
{
	struct s3_http_request hr;
	struct s3_http_response resp;
	struct s3_xml_error e;
	char etag[OS_ETAG_MAX];
	int rc;

	memset(&hr, 0, sizeof(hr));
	hr.io_timeout_ms = SERVER_WORK_TIMEOUT_MS;
	rc = s3_send(s, rq, &hr, &resp);
	if (rc == 0) {
		rc = s3_xml_parse_etag(resp.body.data, resp.body.len, etag, &e);
		rc = parse_result(rq, rc, &e, resp.status);
	}
	if (rc == 0)
		copy_etag(etag_out, etag[0] ? etag : resp.etag);
	s3_http_response_release(&resp);
	return rc;
}

static int s3_copy(struct objstore *os, const char *src, const char *dst,
		   const struct os_meta *meta, char etag_out[OS_ETAG_MAX])
{
	struct s3_store *s = s3(os);
	struct s3_req rq;
	int rc;

	req_init(&rq, "copy", "PUT", dst, meta);
	req_copy_source(&rq, s, src);
	req_header(&rq, "x-amz-metadata-directive", meta ? "REPLACE" : "COPY");
	if (meta)
		req_meta(&rq, meta);
	rc = call_for_etag(s, &rq, etag_out);
	req_release(&rq);
	return rc;
}

static int s3_list(struct objstore *os, const char *prefix, const char *delimiter,
		   const char *token, int max_keys, struct os_list_page *out)
{
	struct s3_http_response resp;
	struct s3_xml_error e;
	struct s3_req rq;
	char max[16];
	int rc;

	snprintf(max, sizeof(max), "%d", max_keys);
	req_init(&rq, "list", "GET", NULL, NULL);
	req_param(&rq, "list-type", "2");
	req_param(&rq, "encoding-type", "url");
	req_param(&rq, "max-keys", max);
	if (prefix)
		req_param(&rq, "prefix", prefix);
	if (delimiter)
		req_param(&rq, "delimiter", delimiter);
	if (token)
		req_param(&rq, "continuation-token", token);
	rq.what = prefix;	/* names the listing in log lines */
	rc = s3_call(s3(os), &rq, &resp);
	if (rc == 0) {
		rc = s3_xml_parse_list(resp.body.data, resp.body.len, out, &e);
		rc = parse_result(&rq, rc, &e, resp.status);
	}
	s3_http_response_release(&resp);
	req_release(&rq);
	return rc;
}

/* --- multipart uploads --- */

static int s3_mpu_create(struct objstore *os, const char *key, const struct os_meta *meta,
			 char **upload_id)
{
	struct s3_http_response resp;
	struct s3_xml_error e;
	struct s3_req rq;
	int rc;

	*upload_id = NULL;
	req_init(&rq, "mpu_create", "POST", key, meta);
	req_param(&rq, "uploads", NULL);
	req_meta(&rq, meta);
	rc = s3_call(s3(os), &rq, &resp);
	if (rc == 0) {
		rc = s3_xml_parse_upload_id(resp.body.data, resp.body.len, upload_id, &e);
		rc = parse_result(&rq, rc, &e, resp.status);
	}
	s3_http_response_release(&resp);
	req_release(&rq);
	return rc;
}

static void req_part(struct s3_req *rq, const char *upload_id, int part, char num[16])
{
	snprintf(num, 16, "%d", part);
	req_param(rq, "partNumber", num);
	req_param(rq, "uploadId", upload_id);
}

static int s3_mpu_put_part(struct objstore *os, const char *key, const char *upload_id,
			   int part, const void *data, size_t len, char etag_out[OS_ETAG_MAX])
{
	struct s3_http_response resp;
	struct s3_req rq;
	char num[16];
	int rc;

	req_init(&rq, "mpu_put_part", "PUT", key, NULL);
	req_part(&rq, upload_id, part, num);
	rq.body = data;
	rq.body_len = len;
	rc = s3_call(s3(os), &rq, &resp);
	if (rc == 0 && !resp.etag[0])
		rc = s3_error_map(rq.op, key, 0, NULL, 0, resp.status, NULL,
				  "no ETag in the reply to a part upload");
	if (rc == 0)
		copy_etag(etag_out, resp.etag);
	s3_http_response_release(&resp);
	req_release(&rq);
	return rc;
}

static int s3_mpu_copy_part(struct objstore *os, const char *key, const char *upload_id,
			    int part, const char *src_key, uint64_t off, uint64_t len,
			    char etag_out[OS_ETAG_MAX])
{
	struct s3_store *s = s3(os);
	struct s3_req rq;
	char num[16];
	int rc;

	if (len == 0)
		return EINVAL;
	req_init(&rq, "mpu_copy_part", "PUT", key, NULL);
	req_part(&rq, upload_id, part, num);
	req_copy_source(&rq, s, src_key);
	req_headerf(&rq, "x-amz-copy-source-range", "bytes=%llu-%llu",
		    (unsigned long long)off, (unsigned long long)(off + len - 1));
	rc = call_for_etag(s, &rq, etag_out);
	req_release(&rq);
	return rc;
}

static int s3_mpu_complete(struct objstore *os, const char *key, const char *upload_id,
			   const struct os_part *parts, size_t n, char etag_out[OS_ETAG_MAX])
{
	struct buf body = BUF_INIT;
	struct s3_req rq;
	int rc;

	req_init(&rq, "mpu_complete", "POST", key, NULL);
	req_param(&rq, "uploadId", upload_id);
	req_header(&rq, "content-type", "application/xml");
	if (s3_xml_complete_body(&body, parts, n))
		rq.err = ENOMEM;
	rq.body = body.data;
	rq.body_len = body.len;
	rc = call_for_etag(s3(os), &rq, etag_out);
	/* what S3 computes, when the server did not say */
	if (rc == 0 && etag_out && !etag_out[0] && os_etag_multipart(parts, n, etag_out))
		etag_out[0] = '\0';
	req_release(&rq);
	buf_release(&body);
	return rc;
}

static int s3_mpu_abort(struct objstore *os, const char *key, const char *upload_id)
{
	struct s3_http_response resp;
	struct s3_req rq;
	int rc;

	req_init(&rq, "mpu_abort", "DELETE", key, NULL);
	req_param(&rq, "uploadId", upload_id);
	rc = s3_call(s3(os), &rq, &resp);
	s3_http_response_release(&resp);
	req_release(&rq);
	return rc;
}

/* One ListMultipartUploads page after the given markers (NULL: the first). */
static int mpu_list_page(struct s3_store *s, const char *prefix, const char *key_marker,
			 const char *id_marker, struct os_upload_list *out, char **next_key,
			 char **next_id)
{
	struct s3_http_response resp;
	struct s3_xml_error e;
	struct s3_req rq;
	int rc;

	req_init(&rq, "mpu_list", "GET", NULL, NULL);
	req_param(&rq, "uploads", NULL);
	/* no encoding-type=url here: radosgw then encodes Key but sends no
	 * <EncodingType>, so the keys could not be told from literal ones.
	 * An upload key with control characters fails the XML parse. */
	if (prefix)
		req_param(&rq, "prefix", prefix);
	if (key_marker)
		req_param(&rq, "key-marker", key_marker);
	if (id_marker)
		req_param(&rq, "upload-id-marker", id_marker);
	rq.what = prefix;
	rc = s3_call(s, &rq, &resp);
	if (rc == 0) {
		rc = s3_xml_parse_uploads(resp.body.data, resp.body.len, out, next_key, next_id,
					  &e);
		rc = parse_result(&rq, rc, &e, resp.status);
	}
	s3_http_response_release(&resp);
	req_release(&rq);
	return rc;
}

static int s3_mpu_list(struct objstore *os, const char *prefix, struct os_upload_list *out)
{
	char *key_marker = NULL, *id_marker = NULL, *nk, *ni;
	int page, rc = 0;

	memset(out, 0, sizeof(*out));
	for (page = 0; page < MPU_LIST_MAX_PAGES; page++) {
		rc = mpu_list_page(s3(os), prefix && *prefix ? prefix : NULL, key_marker,
				   id_marker, out, &nk, &ni);
		free(key_marker);
		free(id_marker);
		key_marker = nk;
		id_marker = ni;
		if (rc || !key_marker)
			break;
	}
	free(key_marker);
	free(id_marker);
	if (rc)
		os_upload_list_release(out);
	return rc;
}

/* --- the bucket --- */

static int s3_check(struct objstore *os)
{
	struct s3_store *s = s3(os);
	struct s3_http_response resp;
	struct os_list_page page;
	struct s3_xml_error e;
	struct s3_req rq;
	int rc;

	req_init(&rq, "check", "GET", NULL, NULL);
	req_param(&rq, "list-type", "2");
	req_param(&rq, "max-keys", "1");
	rq.what = s->bucket;
	rc = s3_call(s, &rq, &resp);
	if (rc == 0) {
		/* a listing of the bucket, not some other 200 (a virtual-hosted
		 * name the server does not know lists all buckets instead) */
		rc = s3_xml_parse_list(resp.body.data, resp.body.len, &page, &e);
		rc = parse_result(&rq, rc, &e, resp.status);
		os_list_page_release(&page);
	}
	s3_http_response_release(&resp);
	req_release(&rq);
	if (rc == ENOENT)
		log_msg(LOG_ERR, "bucket %s not found at %s", s->bucket, s->conf.endpoint);
	else if (rc == EACCES)
		log_msg(LOG_ERR, "access denied to bucket %s at %s (check credentials: %s)",
			s->bucket, s->conf.endpoint, creds_source(s->creds));
	else if (rc && (os_error_is_transient(rc) || rc == EPROTO))
		log_msg(LOG_ERR, "cannot reach endpoint %s: %s", s->conf.endpoint, strerror(rc));
	return rc;
}

static void s3_destroy(struct objstore *os)
{
	struct s3_store *s = s3(os);

	s3_http_destroy(s->http);
	creds_provider_destroy(s->creds);
	awsconf_release(&s->conf);
	free(s->bucket);
	free(s->host);
	free(s->base_url);
	free(s->path_prefix_buf);
	free(s->base.id);
	free(s);
}

static const struct objstore_ops s3_ops = {
	.name = "s3",
	.check = s3_check,
	.head = s3_head,
	.get = s3_get,
	.put = s3_put,
	.del = s3_del,
	.del_many = s3_del_many,
	.copy = s3_copy,
	.list = s3_list,
	.mpu_create = s3_mpu_create,
	.mpu_put_part = s3_mpu_put_part,
	.mpu_copy_part = s3_mpu_copy_part,
	.mpu_complete = s3_mpu_complete,
	.mpu_abort = s3_mpu_abort,
	.mpu_list = s3_mpu_list,
	.destroy = s3_destroy,
};

/* Host, base URL and path prefix from the endpoint and the addressing. */
static int s3_addressing(struct s3_store *s)
{
	const char *endpoint = s->conf.endpoint, *sep = strstr(endpoint, "://");
	const char *authority;
	int n;

	if (!sep)
		return EINVAL;
	authority = sep + 3;
	if (s->conf.addressing == OS_ADDR_VIRTUAL) {
		n = asprintf(&s->host, "%s.%s", s->bucket, authority);
		s->path_prefix = "";
	} else {
		n = asprintf(&s->host, "%s", authority);
		if (n >= 0 && asprintf(&s->path_prefix_buf, "/%s", s->bucket) < 0)
			n = -1;
		s->path_prefix = s->path_prefix_buf;
	}
	if (n < 0)
		return ENOMEM;
	if (asprintf(&s->base_url, "%.*s://%s", (int)(sep - endpoint), endpoint, s->host) < 0 ||
	    asprintf(&s->base.id, "s3:%s/%s", endpoint, s->bucket) < 0)
		return ENOMEM;
	return 0;
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

int s3_store_create(const struct os_source *src, const struct os_config *cfg,
		    struct objstore **out, char *err, size_t errlen)
{
	struct s3_http_opts ho = {
		.max_conns = cfg->max_conns, .connect_timeout_ms = cfg->connect_timeout_ms,
		.io_timeout_ms = cfg->io_timeout_ms, .ca_file = cfg->ca_file,
	};
	struct s3_store *s;
	int rc;

	*out = NULL;
	pthread_once(&xml_once, s3_xml_init);
	s = calloc(1, sizeof(*s));
	if (!s || !(s->bucket = strdup(src->bucket))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return ENOMEM;
	}
	s->base.ops = &s3_ops;
	rc = awsconf_resolve(cfg, &s->conf, err, errlen);
	if (rc) {
		free(s->bucket);
		free(s);
		return rc;
	}
	rc = creds_provider_create(cfg, &s->conf, &s->creds, err, errlen);
	if (!rc)
		rc = s3_http_create(&ho, &s->http, err, errlen);
	if (!rc && (rc = s3_addressing(s)) != 0)
		snprintf(err, errlen, rc == EINVAL ? "bad endpoint URL %s" : "out of memory",
			 s->conf.endpoint);
	if (rc) {
		s3_destroy(&s->base);
		return rc;
	}
	log_msg(LOG_DEBUG, "s3: bucket %s at %s (region %s, %s-style, credentials: %s)",
		s->bucket, s->conf.endpoint, s->conf.region,
		s->conf.addressing == OS_ADDR_VIRTUAL ? "virtual-host" : "path",
		creds_source(s->creds));
	*out = &s->base;
	return 0;
}
