/*
 * awsmeta.c - temporary credentials from the AWS metadata services, the last
 * two links of the credentials chain (awsconf_impl.h):
 *   - the ECS container endpoint: GET AWS_CONTAINER_CREDENTIALS_FULL_URI (or
 *     169.254.170.2 + _RELATIVE_URI) with "Authorization:" from
 *     AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or _TOKEN;
 *   - EC2 IMDSv2: PUT /latest/api/token (with a TTL header), then with that
 *     token GET .../iam/security-credentials/ for the role name and
 *     .../security-credentials/ROLE for the credentials.
 * Both answer the same JSON object (AccessKeyId, SecretAccessKey, Token,
 * Expiration in ISO 8601), read by the small parser below: one flat object
 * whose other values are skipped, so no JSON library is needed.
 *
 * Each request uses its own libcurl easy handle with a 1 s connect and 5 s
 * total timeout and no proxy, so a host that is not on EC2 falls through to
 * "no credentials" quickly. Replies over 64 KiB are refused. Secrets (the
 * reply, tokens, the Authorization header) are wiped before they are freed
 * and never appear in err.
 */
#include "config.h"
#include "objstore/awsconf_impl.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_BODY_MAX (64 << 10)	/* larger replies are refused */
#define META_CONNECT_MS 1000
#define META_TIMEOUT_MS 5000
#define IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"
#define IMDS_IPV6_ENDPOINT "http://[fd00:ec2::254]"
#define IMDS_TOKEN_TTL "21600"
#define IMDS_CREDS_PATH "/latest/meta-data/iam/security-credentials/"
#define ECS_HOST "http://169.254.170.2"

struct awsmeta {
	bool imds;		/* else the ECS container endpoint */
	char *url;		/* ECS: the credentials URL; IMDS: the endpoint */
	char *ca_file;		/* NULL: the system's CAs */
};

/* ------------------------------------------------------------------- HTTP */

struct http_reply {
	struct buf body;
	long status;
	bool too_big;
};

static size_t http_write(char *data, size_t size, size_t n, void *arg)
{
	struct http_reply *r = arg;

	if (r->body.len + size * n > HTTP_BODY_MAX) {
		r->too_big = true;
		return 0;
	}
	return buf_append(&r->body, data, size * n) ? 0 : size * n;
}

/* One request with the short metadata timeouts and no proxy. put: a PUT
 * with an empty body instead of a GET. 0 with r->status set, or EIO
 * (transport failure, message in err). */
static int http_call(const struct awsmeta *m, const char *url, bool put,
		     struct curl_slist *headers, struct http_reply *r, char *err, size_t errlen)
{
	CURL *h = curl_easy_init();
	CURLcode cc;

	if (!h || buf_append(&r->body, "", 0)) {	/* body.data is never NULL */
		curl_easy_cleanup(h);
		snprintf(err, errlen, "cannot create an HTTP handle");
		return EIO;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)META_CONNECT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)META_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (m->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, m->ca_file);
	if (put) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(h);
	if (r->too_big) {
		snprintf(err, errlen, "reply from %s is larger than %d bytes", url, HTTP_BODY_MAX);
		return EIO;
	}
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url, curl_easy_strerror(cc));
		return EIO;
	}
	return 0;
}

/* ------------------------------------------- JSON: one flat object of strings */

struct json {
	const char *p;
	int depth;
};

#define JSON_DEPTH_MAX 16

static void json_ws(struct json *j)
{
	while (isspace((unsigned char)*j->p))
		j->p++;
}

static int json_utf8(struct buf *out, unsigned cp)
{
	char u[3];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	}
	return out ? buf_append(out, u, n) : 0;
}

/* A string at j->p, decoded into out (out may be NULL to skip it). 0 or
 * EINVAL; surrogate pairs are refused (never in credentials). */
static int json_string(struct json *j, struct buf *out)
{
	static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";

	if (*j->p++ != '"')
		return EINVAL;
	while (*j->p != '"') {
		unsigned char c = (unsigned char)*j->p++;
		const char *e;
		unsigned cp;

		if (c < 0x20)
			return EINVAL;
		if (c != '\\') {
			if (out && buf_append(out, &c, 1))
				return ENOMEM;
			continue;
		}
		c = (unsigned char)*j->p++;
		if (c == 'u') {
			char hex[5] = { 0 };

			memcpy(hex, j->p, strnlen(j->p, 4));
			if (strspn(hex, "0123456789abcdefABCDEF") != 4)
				return EINVAL;
			cp = (unsigned)strtoul(hex, NULL, 16);
			if (cp >= 0xd800 && cp < 0xe000)
				return EINVAL;	/* surrogates: never in credentials */
			j->p += 4;
			if (json_utf8(out, cp))
				return ENOMEM;
		} else if (c && (e = strchr(esc_in, c))) {
			if (out && buf_append(out, &esc_out[e - esc_in], 1))
				return ENOMEM;
		} else {
			return EINVAL;
		}
	}
	j->p++;
	return 0;
}

static int json_skip(struct json *j);

/* Skips an object or array at j->p (the opening bracket). */
static int json_skip_container(struct json *j, char close)
{
	bool object = close == '}';
	int rc;

	if (++j->depth > JSON_DEPTH_MAX)
		return EINVAL;
	j->p++;
	json_ws(j);
	if (*j->p == close)
		goto out_close;
	for (;;) {
		if (object) {
			json_ws(j);
			rc = json_string(j, NULL);
			json_ws(j);
			if (rc || *j->p++ != ':')
				return EINVAL;
		}
		rc = json_skip(j);
		if (rc)
			return rc;
		json_ws(j);
		if (*j->p == close)
			break;
		if (*j->p++ != ',')
			return EINVAL;
	}
out_close:
	j->p++;
	j->depth--;
	return 0;
}

/* Skips any value at j->p. */
static int json_skip(struct json *j)
{
	json_ws(j);
	switch (*j->p) {
	case '"':
		return json_string(j, NULL);
	case '{':
		return json_skip_container(j, '}');
	case '[':
		return json_skip_container(j, ']');
	}
	if (strncmp(j->p, "true", 4) == 0 || strncmp(j->p, "null", 4) == 0) {
		j->p += 4;
	} else if (strncmp(j->p, "false", 5) == 0) {
		j->p += 5;
	} else {
		size_t n = strspn(j->p, "+-0123456789.eE");

		if (n == 0)
			return EINVAL;
		j->p += n;
	}
	return 0;
}

/* The fields of a credentials reply (ECS and IMDS use the same names). */
enum { F_ACCESS, F_SECRET, F_TOKEN, F_EXPIRATION, F_CODE, F_COUNT };
static const char *const json_fields[F_COUNT] = {
	"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "Code",
};

static int json_field(struct json *j, struct buf *fields)
{
	struct buf key = BUF_INIT;
	int rc, f;

	json_ws(j);
	rc = json_string(j, &key);
	json_ws(j);
	if (rc || *j->p++ != ':') {
		buf_release(&key);
		return rc ? rc : EINVAL;
	}
	json_ws(j);
	for (f = 0; f < F_COUNT; f++)
		if (key.data && strcmp(key.data, json_fields[f]) == 0 && *j->p == '"')
			break;
	buf_release(&key);
	if (f == F_COUNT)
		return json_skip(j);
	buf_reset(&fields[f]);
	return json_string(j, &fields[f]);
}

/* Parses {"Name": value, ...} keeping the fields above. 0 or EINVAL. */
static int json_parse_fields(const char *text, struct buf fields[F_COUNT])
{
	struct json j = { text, 0 };
	int rc;

	json_ws(&j);
	if (*j.p++ != '{')
		return EINVAL;
	json_ws(&j);
	if (*j.p == '}')
		return EINVAL;	/* no fields: certainly no credentials */
	do {
		rc = json_field(&j, fields);
		if (rc)
			return rc;
		json_ws(&j);
	} while (*j.p++ == ',');
	if (j.p[-1] != '}')
		return EINVAL;
	json_ws(&j);
	return *j.p ? EINVAL : 0;
}

/* "2026-11-30T12:00:00Z", optional fraction, "Z" or a +hh:mm offset. */
static int parse_iso8601(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	int n = 0, off_h = 0, off_m = 0, sign = 1;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 || n == 0)
		return EINVAL;
	s += n;
	if (*s == '.')
		s += 1 + strspn(s + 1, "0123456789");
	if (*s == '+' || *s == '-') {
		sign = *s == '-' ? -1 : 1;
		if (sscanf(s + 1, "%2d:%2d%n", &off_h, &off_m, &n) != 2)
			return EINVAL;
		s += 1 + n;
	} else if (*s == 'Z' || *s == 'z') {
		s++;
	}
	if (*s || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return EINVAL;
	*out = (int64_t)t - sign * (off_h * 3600 + off_m * 60);
	return 0;
}

/* Turns a credentials reply into out. 0 or EACCES with a message that names
 * `what` (never a secret). */
static int creds_from_json(const char *text, const char *what, struct s3_creds *out,
			   char *err, size_t errlen)
{
	struct buf f[F_COUNT] = { BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT };
	int rc = EACCES;

	if (json_parse_fields(text, f)) {
		snprintf(err, errlen, "%s: the reply is not the expected JSON object", what);
		goto out_release;
	}
	if (f[F_CODE].data && strcmp(f[F_CODE].data, "Success") != 0) {
		snprintf(err, errlen, "%s: Code is '%.64s', not 'Success'", what, f[F_CODE].data);
		goto out_release;
	}
	if (!f[F_ACCESS].len || !f[F_SECRET].len) {
		snprintf(err, errlen, "%s: the reply has no AccessKeyId/SecretAccessKey", what);
		goto out_release;
	}
	if (f[F_EXPIRATION].data && parse_iso8601(f[F_EXPIRATION].data, &out->expires)) {
		snprintf(err, errlen, "%s: cannot parse Expiration '%.40s'", what,
			 f[F_EXPIRATION].data);
		goto out_release;
	}
	out->access_key = buf_detach(&f[F_ACCESS]);
	out->secret_key = buf_detach(&f[F_SECRET]);
	out->session_token = f[F_TOKEN].len ? buf_detach(&f[F_TOKEN]) : NULL;
	rc = out->access_key && out->secret_key ? 0 : ENOMEM;
	if (rc)
		s3_creds_release(out);
out_release:
	for (int i = 0; i < F_COUNT; i++)
		awsconf_buf_wipe(&f[i]);
	return rc;
}

/* ------------------------------------------------ ECS container credentials */

/* FULL_URI over plain http is only trusted on loopback and the ECS/EKS
 * agent addresses, as in the AWS SDKs. */
static bool ecs_url_trusted(const char *url)
{
	static const char *const hosts[] = {
		"localhost", "[::1]", "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]",
	};
	const char *host = url + 7;
	size_t n;

	if (strncasecmp(url, "https://", 8) == 0)
		return true;
	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":/?#");
	if (n > 4 && strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == n)
		return true;
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
		if (strlen(hosts[i]) == n && strncasecmp(host, hosts[i], n) == 0)
			return true;
	return false;
}

/* The Authorization header value: the token file (re-read each time, it
 * rotates) beats the token variable. NULL token = no header. */
static int ecs_auth_header(struct buf *hdr, char *err, size_t errlen)
{
	const char *file = awsconf_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *token = awsconf_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	struct buf text = BUF_INIT;
	mode_t mode;
	int rc = 0;

	if (file) {
		rc = awsconf_read_file(file, &text, &mode);
		if (rc) {
			snprintf(err, errlen, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE "
				 "%s: %s", file, strerror(rc));
			rc = EACCES;
			goto out_release;
		}
		token = awsconf_trim(text.data);
	}
	if (!token)
		goto out_release;
	if (strpbrk(token, "\r\n")) {
		snprintf(err, errlen, "the container authorization token contains a newline");
		rc = EACCES;
		goto out_release;
	}
	rc = buf_appendf(hdr, "Authorization: %s", token);
out_release:
	awsconf_buf_wipe(&text);
	return rc;
}

static int ecs_fetch(struct awsmeta *m, struct s3_creds *out, char *err, size_t errlen)
{
	struct http_reply r = { BUF_INIT, 0, false };
	struct buf auth = BUF_INIT;
	struct curl_slist *headers = NULL;
	int rc;

	rc = ecs_auth_header(&auth, err, errlen);
	if (rc)
		goto out_release;
	if (auth.len && !(headers = curl_slist_append(NULL, auth.data))) {
		rc = ENOMEM;
		goto out_release;
	}
	rc = http_call(m, m->url, false, headers, &r, err, errlen);
	if (!rc && r.status != 200) {
		snprintf(err, errlen, "container credentials endpoint %s answered HTTP %ld",
			 m->url, r.status);
		rc = EACCES;
	}
	if (!rc)
		rc = creds_from_json(r.body.data, "container credentials", out, err, errlen);
out_release:
	if (headers) {
		explicit_bzero(headers->data, strlen(headers->data));
		curl_slist_free_all(headers);
	}
	awsconf_buf_wipe(&auth);
	awsconf_buf_wipe(&r.body);
	return rc;
}

/* The credentials URL when the container variables are set: 0, ENOENT (not
 * in a container), EACCES or ENOMEM. */
static int ecs_configure(struct awsmeta *m, char *err, size_t errlen)
{
	const char *rel = awsconf_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = awsconf_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	struct buf url = BUF_INIT;

	if (!rel && !full)
		return ENOENT;
	if (!rel && !ecs_url_trusted(full)) {
		snprintf(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https or a "
			 "loopback/ECS/EKS address, not '%s'", full);
		return EACCES;
	}
	if (rel ? buf_appendf(&url, "%s%s%s", ECS_HOST, *rel == '/' ? "" : "/", rel) :
		  buf_append_str(&url, full))
		return ENOMEM;
	m->imds = false;
	m->url = buf_detach(&url);
	return m->url ? 0 : ENOMEM;
}

/* ----------------------------------------------- EC2 instance metadata (v2) */

/* GET path with the session token. 0 (HTTP 200), ENOENT (404), EACCES
 * (other status) or EIO (transport). */
static int imds_get(struct awsmeta *m, const char *path, const char *token,
		    struct buf *body, char *err, size_t errlen)
{
	struct http_reply r = { BUF_INIT, 0, false };
	struct curl_slist *headers = NULL;
	struct buf url = BUF_INIT, hdr = BUF_INIT;
	int rc = ENOMEM;

	if (buf_appendf(&url, "%s%s", m->url, path) ||
	    buf_appendf(&hdr, "X-aws-ec2-metadata-token: %s", token) ||
	    !(headers = curl_slist_append(NULL, hdr.data)))
		goto out_release;
	rc = http_call(m, url.data, false, headers, &r, err, errlen);
	if (!rc && r.status != 200) {
		snprintf(err, errlen, "instance metadata %s answered HTTP %ld", url.data, r.status);
		rc = r.status == 404 ? ENOENT : EACCES;
	}
	if (!rc) {
		*body = r.body;
		buf_init(&r.body);
	}
out_release:
	curl_slist_free_all(headers);
	awsconf_buf_wipe(&hdr);
	buf_release(&url);
	awsconf_buf_wipe(&r.body);
	return rc;
}

/* The session token: PUT /latest/api/token. 0, EIO (unreachable: not EC2)
 * or EACCES. */
static int imds_token(struct awsmeta *m, struct buf *token, char *err, size_t errlen)
{
	struct http_reply r = { BUF_INIT, 0, false };
	struct curl_slist *headers;
	struct buf url = BUF_INIT;
	int rc = ENOMEM;

	headers = curl_slist_append(NULL, "X-aws-ec2-metadata-token-ttl-seconds: "
				    IMDS_TOKEN_TTL);
	if (!headers || buf_appendf(&url, "%s/latest/api/token", m->url))
		goto out_release;
	rc = http_call(m, url.data, true, headers, &r, err, errlen);
	if (!rc && (r.status != 200 || !r.body.len)) {
		snprintf(err, errlen, "instance metadata token request answered HTTP %ld",
			 r.status);
		rc = EACCES;
	}
	if (!rc) {
		*token = r.body;
		buf_init(&r.body);
	}
out_release:
	curl_slist_free_all(headers);
	buf_release(&url);
	awsconf_buf_wipe(&r.body);
	return rc;
}

/* 0, ENOENT (unreachable or no role: not an EC2 instance with a role),
 * EACCES or ENOMEM. */
static int imds_fetch(struct awsmeta *m, struct s3_creds *out, char *err, size_t errlen)
{
	struct buf token = BUF_INIT, roles = BUF_INIT, path = BUF_INIT, reply = BUF_INIT;
	char *role;
	int rc;

	rc = imds_token(m, &token, err, errlen);
	if (!rc)
		rc = imds_get(m, IMDS_CREDS_PATH, awsconf_trim(token.data), &roles, err, errlen);
	if (rc == ENOENT)
		snprintf(err, errlen, "no IAM role is attached to this EC2 instance");
	if (rc == EIO)
		rc = ENOENT;	/* unreachable: not on EC2 */
	if (rc)
		goto out_release;
	role = awsconf_trim(roles.data);
	role[strcspn(role, "\r\n")] = '\0';	/* the first role listed */
	if (!*role || strchr(role, '/')) {
		snprintf(err, errlen, "instance metadata lists no usable IAM role");
		rc = ENOENT;
		goto out_release;
	}
	rc = buf_appendf(&path, IMDS_CREDS_PATH "%s", role);
	if (!rc)
		rc = imds_get(m, path.data, awsconf_trim(token.data), &reply, err, errlen);
	if (!rc)
		rc = creds_from_json(reply.data, "instance metadata", out, err, errlen);
out_release:
	awsconf_buf_wipe(&token);
	buf_release(&roles);
	buf_release(&path);
	awsconf_buf_wipe(&reply);
	return rc;
}

/* The endpoint unless IMDS is disabled: 0, ENOENT or ENOMEM. */
static int imds_configure(struct awsmeta *m)
{
	const char *disabled = awsconf_env("AWS_EC2_METADATA_DISABLED");
	const char *url = awsconf_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = awsconf_env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	size_t n;

	if (disabled && strcasecmp(disabled, "true") == 0)
		return ENOENT;
	if (!url && mode && strcasecmp(mode, "IPv6") == 0)
		url = IMDS_IPV6_ENDPOINT;
	if (!url)
		url = IMDS_DEFAULT_ENDPOINT;
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	m->imds = true;
	m->url = strndup(url, n);
	return m->url ? 0 : ENOMEM;
}

/* ------------------------------------------------------------------ public */

int awsmeta_create(const char *ca_file, struct awsmeta **out, char *err, size_t errlen)
{
	struct awsmeta *m = calloc(1, sizeof(*m));
	int rc = ENOMEM;

	*out = NULL;
	if (!m || (ca_file && !(m->ca_file = strdup(ca_file))))
		goto out_destroy;
	rc = ecs_configure(m, err, errlen);
	if (rc == ENOENT)
		rc = imds_configure(m);
	if (rc)
		goto out_destroy;
	*out = m;
	return 0;

out_destroy:
	if (rc == ENOMEM)
		snprintf(err, errlen, "out of memory");
	awsmeta_destroy(m);
	return rc;
}

int awsmeta_fetch(struct awsmeta *m, struct s3_creds *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	return m->imds ? imds_fetch(m, out, err, errlen) : ecs_fetch(m, out, err, errlen);
}

const char *awsmeta_name(const struct awsmeta *m)
{
	return m->imds ? "instance metadata" : "container credentials";
}

void awsmeta_destroy(struct awsmeta *m)
{
	if (!m)
		return;
	free(m->url);
	free(m->ca_file);
	free(m);
}
