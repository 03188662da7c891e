/*
 * s3_http.c - libcurl transport of the S3 backend.
 *
 * Design:
 *  - A pool of at most max_conns easy handles, created lazily and reused for
 *    the pool's life: each keeps its keep-alive connection (and TLS session)
 *    between requests, so steady-state requests open no connection and
 *    allocate no handle. A caller finding all handles busy waits on a
 *    condition variable (the bound on connections to the server).
 *  - A CURLSH shares the DNS cache and TLS session ids between the handles.
 *    The connection cache is deliberately NOT shared: libcurl documents that
 *    sharing connections between concurrently running threads is unsupported
 *    (known bug, curl TODO "Better and more sharing"); one connection per
 *    handle gives the same reuse without it.
 *  - Options that never change are set once per handle; each request sets
 *    the method, URL, headers and callback data explicitly (no state from a
 *    previous request can leak into the next).
 *  - Timeouts: connect_timeout_ms for the connection, and io_timeout_ms as
 *    "no byte moved either way for this long" (a progress callback).
 *  - A 2xx GET body goes from libcurl's buffer straight to the caller's sink
 *    (no copy); the byte count is checked against Content-Range or
 *    Content-Length, so a short body is an error (ECONNRESET), never data.
 *  - s3_error_map() is the only place that turns CURLcode / HTTP status /
 *    S3 error codes into errno, and the only place that logs them.
 */
#include "config.h"
#include "objstore/s3_http.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "objstore/s3_xml.h"
#include "util/log.h"

#define DEFAULT_MAX_CONNS 16
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_IO_TIMEOUT_MS 30000
#define RECV_BUFFER_SIZE (256 * 1024L)
#define SEND_BUFFER_SIZE (1024 * 1024L)
#define MAX_COLLECTED_BODY (64u << 20)	/* a list page is < 1 MiB */
#define USER_AGENT "lithfs/" PACKAGE_VERSION

struct handle {
	CURL *curl;
	struct handle *next;		/* free list link */
	char errbuf[CURL_ERROR_SIZE];
};

struct s3_http {
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct handle *free_list;	/* protected by lock */
	int n_handles;			/* protected by lock */
	int max_handles;
	long connect_timeout_ms;
	long io_timeout_ms;
	char *ca_file;			/* owned, or NULL */
};

/* State of one transfer, seen by the callbacks. */
struct xfer {
	const struct s3_http_request *rq;
	struct s3_http_response *resp;
	size_t body_off;		/* request body bytes sent */
	int sink_err;			/* the sink's errno that stopped the transfer */
	int collect_err;		/* ENOMEM or EFBIG while collecting a body */
	long io_timeout_ms;
	curl_off_t moved;		/* bytes sent + received so far */
	int64_t moved_at_ms;		/* when `moved` last changed */
	bool stalled;			/* stopped: nothing moved for io_timeout_ms */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_ALL);
}

/* --- the share's locks --- */

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct s3_http *h = arg;

	(void)c;
	(void)access;
	pthread_mutex_lock(&h->share_locks[data]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *arg)
{
	struct s3_http *h = arg;

	(void)c;
	pthread_mutex_unlock(&h->share_locks[data]);
}

/* --- response headers --- */

static bool header_is(const char *p, size_t n, const char *name)
{
	size_t len = strlen(name);

	return n == len && strncasecmp(p, name, len) == 0;
}

static int64_t parse_http_date(const char *v)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm))
		return 0;
	return (int64_t)timegm(&tm) * 1000000000;
}

/* "bytes FIRST-LAST/TOTAL", "bytes FIRST-LAST/ *" or "bytes * /TOTAL" */
static void parse_content_range(const char *v, struct s3_http_response *r)
{
	unsigned long long first, last, total;

	if (sscanf(v, "bytes %llu-%llu/%llu", &first, &last, &total) == 3) {
		r->has_total = true;
		r->total = total;
	} else if (sscanf(v, "bytes %llu-%llu/", &first, &last) != 2) {
		if (sscanf(v, "bytes */%llu", &total) == 1) {
			r->has_total = true;
			r->total = total;
		}
		return;
	}
	r->has_range = true;
	r->range_first = first;
	r->range_last = last;
}

static void response_reset_headers(struct s3_http_response *r)
{
	r->etag[0] = '\0';
	r->last_modified_ns = 0;
	r->has_length = r->has_range = r->has_total = false;
	os_meta_release(&r->meta);
}

static int on_header_field(struct xfer *x, const char *name, size_t nlen, const char *v)
{
	struct s3_http_response *r = x->resp;
	static const char meta[] = "x-amz-meta-";

	if (header_is(name, nlen, "etag")) {
		s3_etag_copy(r->etag, v, strlen(v));
	} else if (header_is(name, nlen, "last-modified")) {
		r->last_modified_ns = parse_http_date(v);
	} else if (header_is(name, nlen, "content-length")) {
		r->has_length = true;
		r->content_length = strtoull(v, NULL, 10);
	} else if (header_is(name, nlen, "content-range")) {
		parse_content_range(v, r);
	} else if (x->rq->want_meta && nlen > sizeof(meta) - 1 &&
		   strncasecmp(name, meta, sizeof(meta) - 1) == 0) {
		char mname[256];

		if (nlen - (sizeof(meta) - 1) >= sizeof(mname))
			return 0;	/* S3 limits metadata to 2 KiB anyway */
		memcpy(mname, name + sizeof(meta) - 1, nlen - (sizeof(meta) - 1));
		mname[nlen - (sizeof(meta) - 1)] = '\0';
		return os_meta_set(&r->meta, mname, v);
	}
	return 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n, vlen;
	const char *colon, *v;
	char value[4096];

	if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* a new response (after a 100 Continue, say): start over */
		const char *sp = memchr(p, ' ', len);

		x->resp->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		response_reset_headers(x->resp);
		return len;
	}
	colon = memchr(p, ':', len);
	if (!colon)
		return len;
	for (v = colon + 1; v < p + len && (*v == ' ' || *v == '\t'); v++)
		;
	vlen = (size_t)(p + len - v);
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (vlen >= sizeof(value))
		return len;	/* no header lithfs reads is that long */
	memcpy(value, v, vlen);
	value[vlen] = '\0';
	if (on_header_field(x, p, (size_t)(colon - p), value)) {
		x->collect_err = ENOMEM;
		return 0;
	}
	return len;
}

/* --- bodies --- */

static bool status_ok(long status)
{
	return status >= 200 && status < 300;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (x->rq->sink && status_ok(x->resp->status)) {
		int rc = x->rq->sink(x->rq->sink_arg, p, len);

		if (rc) {
			x->sink_err = rc;
			return 0;	/* CURLE_WRITE_ERROR stops the transfer */
		}
		x->resp->received += len;
		return len;
	}
	if (x->resp->body.len + len > MAX_COLLECTED_BODY) {
		x->collect_err = EFBIG;
		return 0;
	}
	if (buf_append(&x->resp->body, p, len)) {
		x->collect_err = ENOMEM;
		return 0;
	}
	return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n, left = x->rq->body_len - x->body_off;

	if (len > left)
		len = left;
	if (len == 0)
		return 0;	/* also: no body at all (a copy is a PUT without one) */
	memcpy(p, (const char *)x->rq->body + x->body_off, len);
	x->body_off += len;
	return len;
}

/* libcurl rewinds the body when it resends a request on a new connection
 * (a kept-alive connection the server had closed). */
static int on_seek(void *arg, curl_off_t off, int origin)
{
	struct xfer *x = arg;

	if (origin != SEEK_SET || off < 0 || (size_t)off > x->rq->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->body_off = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

/* Monotonic milliseconds. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The io timeout: libcurl calls this at least once a second; a transfer in
 * which no byte moved either way for io_timeout_ms is stopped. (libcurl's
 * own low-speed limit averages over a window of several seconds, so it
 * reacts late to a stall after some progress.)
 */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = arg;
	int64_t now = now_ms();

	(void)dltotal;
	(void)ultotal;
	if (dlnow + ulnow != x->moved || x->moved_at_ms == 0) {
		x->moved = dlnow + ulnow;
		x->moved_at_ms = now;
		return 0;
	}
	if (now - x->moved_at_ms < x->io_timeout_ms)
		return 0;
	x->stalled = true;
	return 1;	/* CURLE_ABORTED_BY_CALLBACK */
}

/* --- the pool --- */

static struct handle *handle_new(struct s3_http *h)
{
	struct handle *hd = calloc(1, sizeof(*hd));
	CURL *c;

	if (!hd)
		return NULL;
	hd->curl = c = curl_easy_init();
	if (!c) {
		free(hd);
		return NULL;
	}
	curl_easy_setopt(c, CURLOPT_SHARE, h->share);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, hd->errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);	/* keys are not paths */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_MAXCONNECTS, 1L);
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, RECV_BUFFER_SIZE);
	curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, SEND_BUFFER_SIZE);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
	return hd;
}

static void handle_free(struct handle *hd)
{
	curl_easy_cleanup(hd->curl);
	free(hd);
}

/* Borrows a handle, waiting while max_handles are in use. NULL on ENOMEM. */
static struct handle *pool_get(struct s3_http *h)
{
	struct handle *hd = NULL;

	pthread_mutex_lock(&h->lock);
	while (!h->free_list && h->n_handles >= h->max_handles)
		pthread_cond_wait(&h->cond, &h->lock);
	if (h->free_list) {
		hd = h->free_list;
		h->free_list = hd->next;
	} else {
		h->n_handles++;	/* reserve the slot, create outside the lock */
	}
	pthread_mutex_unlock(&h->lock);
	if (hd)
		return hd;
	hd = handle_new(h);
	if (!hd) {
		pthread_mutex_lock(&h->lock);
		h->n_handles--;
		pthread_cond_signal(&h->cond);
		pthread_mutex_unlock(&h->lock);
	}
	return hd;
}

static void pool_put(struct s3_http *h, struct handle *hd)
{
	pthread_mutex_lock(&h->lock);
	hd->next = h->free_list;
	h->free_list = hd;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

int s3_http_create(const struct s3_http_opts *opts, struct s3_http **out, char *err,
		   size_t errlen)
{
	struct s3_http *h;
	int io_ms = opts->io_timeout_ms > 0 ? opts->io_timeout_ms : DEFAULT_IO_TIMEOUT_MS;
	int i;

	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl: %s", curl_easy_strerror(global_rc));
		return EIO;
	}
	h = calloc(1, sizeof(*h));
	if (!h || (opts->ca_file && !(h->ca_file = strdup(opts->ca_file))))
		goto out_nomem;
	h->max_handles = opts->max_conns > 0 ? opts->max_conns : DEFAULT_MAX_CONNS;
	h->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms :
			        DEFAULT_CONNECT_TIMEOUT_MS;
	h->io_timeout_ms = io_ms;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->share_locks[i], NULL);
	h->share = curl_share_init();
	if (!h->share) {
		s3_http_destroy(h);
		h = NULL;
		goto out_nomem;
	}
	curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	*out = h;
	return 0;
out_nomem:
	if (h)
		free(h->ca_file);
	free(h);
	snprintf(err, errlen, "out of memory");
	return ENOMEM;
}

void s3_http_destroy(struct s3_http *h)
{
	struct handle *hd;
	int i;

	if (!h)
		return;
	while ((hd = h->free_list)) {
		h->free_list = hd->next;
		handle_free(hd);
	}
	if (h->share)
		curl_share_cleanup(h->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->share_locks[i]);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h->ca_file);
	free(h);
}

void s3_http_response_release(struct s3_http_response *r)
{
	os_meta_release(&r->meta);
	buf_release(&r->body);
	memset(r, 0, sizeof(*r));
}

/* --- one request --- */

/* "name: value" lines for libcurl ("name;" sends an empty value), plus
 * "Expect:" so a PUT does not wait a round trip for 100 Continue. */
static int build_headers(const struct s3_http_request *rq, struct curl_slist **out)
{
	struct curl_slist *list = NULL, *grown;
	struct buf line = BUF_INIT;
	size_t i;
	int rc = ENOMEM;

	for (i = 0; i <= rq->n_headers; i++) {
		buf_reset(&line);
		if (i == rq->n_headers) {
			if (buf_append_str(&line, "Expect:"))
				goto out_free;
		} else if (*rq->headers[i].value) {
			if (buf_appendf(&line, "%s: %s", rq->headers[i].name, rq->headers[i].value))
				goto out_free;
		} else if (buf_appendf(&line, "%s;", rq->headers[i].name)) {
			goto out_free;
		}
		grown = curl_slist_append(list, line.data);
		if (!grown)
			goto out_free;
		list = grown;
	}
	*out = list;
	list = NULL;
	rc = 0;
out_free:
	curl_slist_free_all(list);
	buf_release(&line);
	return rc;
}

static void setup_request(CURL *c, const struct s3_http_request *rq, struct xfer *x,
			  struct curl_slist *headers)
{
	/* HTTPGET resets upload/post/nobody: every method starts from GET */
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
	if (strcmp(rq->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(rq->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
	} else if (strcmp(rq->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	} else if (strcmp(rq->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
	}
	curl_easy_setopt(c, CURLOPT_URL, rq->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_READDATA, x);
	curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
}

/* Checks a streamed body arrived whole and from the right offset. */
static int check_body(const struct s3_http_request *rq, const struct s3_http_response *r)
{
	char msg[160];
	uint64_t want;

	if (rq->ranged && (!r->has_range || r->range_first != rq->range_off)) {
		snprintf(msg, sizeof(msg), "server did not honour Range from byte %llu",
			 (unsigned long long)rq->range_off);
		return s3_error_map(rq->op, rq->key, CURLE_RANGE_ERROR, msg, 0, r->status,
				    NULL, NULL);
	}
	if (r->has_range)
		want = r->range_last - r->range_first + 1;
	else if (r->has_length)
		want = r->content_length;
	else
		return 0;
	if (r->received == want)
		return 0;
	snprintf(msg, sizeof(msg), "body truncated: received %llu of %llu bytes",
		 (unsigned long long)r->received, (unsigned long long)want);
	return s3_error_map(rq->op, rq->key, CURLE_PARTIAL_FILE, msg, 0, r->status, NULL, NULL);
}

static int finish(CURL *c, const char *errbuf, CURLcode cc, struct xfer *x)
{
	const struct s3_http_request *rq = x->rq;
	struct s3_http_response *r = x->resp;
	struct s3_xml_error e;
	long os_errno = 0;
	char msg[64];

	if (x->sink_err)
		return x->sink_err;
	if (x->stalled) {
		snprintf(msg, sizeof(msg), "no data moved for %ld ms", x->io_timeout_ms);
		return s3_error_map(rq->op, rq->key, CURLE_OPERATION_TIMEDOUT, msg, 0, r->status,
				    NULL, NULL);
	}
	if (x->collect_err) {
		return s3_error_map(rq->op, rq->key, CURLE_OUT_OF_MEMORY,
				    x->collect_err == EFBIG ? "response body too large" :
				    "out of memory", 0, r->status, NULL, NULL);
	}
	if (cc != CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
		return s3_error_map(rq->op, rq->key, cc, *errbuf ? errbuf : curl_easy_strerror(cc),
				    (int)os_errno, r->status, NULL, NULL);
	}
	if (r->status == 416 && rq->empty_ok) {
		/* bytes=0-N is satisfiable for any object of at least one byte,
		 * so this object is empty: an empty read, not an error (radosgw
		 * sends no Content-Range with it) */
		r->status = 206;
		buf_reset(&r->body);
		return 0;
	}
	if (!status_ok(r->status)) {
		memset(&e, 0, sizeof(e));
		if (r->body.len && s3_xml_parse_error(r->body.data, r->body.len, &e))
			memset(&e, 0, sizeof(e));	/* not S3 XML: the status decides */
		return s3_error_map(rq->op, rq->key, 0, NULL, 0, r->status, e.code, e.message);
	}
	return rq->sink ? check_body(rq, r) : 0;
}

int s3_http_perform(struct s3_http *h, const struct s3_http_request *rq,
		    struct s3_http_response *resp)
{
	struct xfer x = {
		.rq = rq, .resp = resp,
		.io_timeout_ms = rq->io_timeout_ms > 0 ? rq->io_timeout_ms : h->io_timeout_ms,
	};
	struct curl_slist *headers = NULL;
	struct handle *hd;
	CURLcode cc;
	int rc;

	hd = pool_get(h);
	if (!hd)
		return s3_error_map(rq->op, rq->key, CURLE_OUT_OF_MEMORY, "no curl handle", 0, 0,
				    NULL, NULL);
	rc = build_headers(rq, &headers);
	if (rc) {
		rc = s3_error_map(rq->op, rq->key, CURLE_OUT_OF_MEMORY, "out of memory", 0, 0,
				  NULL, NULL);
		goto out_put;
	}
	setup_request(hd->curl, rq, &x, headers);
	hd->errbuf[0] = '\0';
	cc = curl_easy_perform(hd->curl);
	rc = finish(hd->curl, hd->errbuf, cc, &x);
	/* the list must outlive the transfer; detach it before freeing */
	curl_easy_setopt(hd->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
out_put:
	pool_put(h, hd);
	return rc;
}

/* --- THE error mapping --- */

struct code_errno {
	const char *code;
	int err;
};

/* S3 error codes (AWS's list, plus radosgw's) that lithfs distinguishes. */
static const struct code_errno s3_codes[] = {
	{ "NoSuchKey", ENOENT },
	{ "NoSuchBucket", ENOENT },
	{ "NoSuchUpload", ENOENT },
	{ "NoSuchVersion", ENOENT },
	{ "AccessDenied", EACCES },
	{ "AllAccessDisabled", EACCES },
	{ "AccountProblem", EACCES },
	{ "AuthorizationHeaderMalformed", EACCES },
	{ "ExpiredToken", EACCES },
	{ "InvalidAccessKeyId", EACCES },
	{ "InvalidSecurity", EACCES },
	{ "InvalidToken", EACCES },
	{ "MissingSecurityHeader", EACCES },
	{ "RequestTimeTooSkewed", EACCES },
	{ "SignatureDoesNotMatch", EACCES },
	{ "UserSuspended", EACCES },
	{ "PreconditionFailed", ESTALE },
	{ "InvalidRange", EINVAL },
	{ "SlowDown", EAGAIN },
	{ "RequestTimeout", EAGAIN },
	{ "InternalError", EAGAIN },
	{ "ServiceUnavailable", EAGAIN },
	{ "OperationAborted", EAGAIN },
	{ "IncompleteBody", ECONNRESET },
	{ "BucketNotEmpty", ENOTEMPTY },
	{ "BucketAlreadyExists", EEXIST },
	{ "BucketAlreadyOwnedByYou", EEXIST },
	{ "KeyTooLongError", ENAMETOOLONG },
	{ "EntityTooLarge", EFBIG },
	{ "QuotaExceeded", EDQUOT },
	{ "EntityTooSmall", EINVAL },
	{ "InvalidArgument", EINVAL },
	{ "InvalidBucketName", EINVAL },
	{ "InvalidPart", EINVAL },
	{ "InvalidPartOrder", EINVAL },
	{ "InvalidRequest", EINVAL },
	{ "MalformedXML", EINVAL },
	{ "MissingContentLength", EINVAL },
	/* the server got other bytes than were hashed: surface it, no retry */
	{ "BadDigest", EIO },
	{ "XAmzContentSHA256Mismatch", EIO },
	{ "NotImplemented", EIO },
};

static int map_s3_code(const char *code)
{
	size_t i;

	for (i = 0; i < sizeof(s3_codes) / sizeof(s3_codes[0]); i++) {
		if (strcmp(code, s3_codes[i].code) == 0)
			return s3_codes[i].err;
	}
	return 0;
}

static int map_status(long status)
{
	switch (status) {
	case 400: case 411: case 416: return EINVAL;
	case 401: case 403: return EACCES;
	case 404: return ENOENT;
	case 408: case 429: return EAGAIN;
	case 412: return ESTALE;
	case 501: return EIO;
	default: return status >= 500 && status < 600 ? EAGAIN : EIO;
	}
}

static int map_connect(int os_errno)
{
	switch (os_errno) {
	case EHOSTUNREACH: case ENETUNREACH: case EHOSTDOWN: case ENETDOWN:
		return EHOSTUNREACH;
	case ETIMEDOUT:
		return ETIMEDOUT;
	default:
		return ECONNREFUSED;
	}
}

static int map_curl(int cc, int os_errno)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return map_connect(os_errno);
	case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY:
		return EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
		return ECONNRESET;
	/* TLS set-up and verification failures: a configuration problem */
	case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE: case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER: case CURLE_SSL_ISSUER_ERROR: case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_INVALIDCERTSTATUS: case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_USE_SSL_FAILED: case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return EPROTO;
	case CURLE_URL_MALFORMAT:
		return EINVAL;
	case CURLE_OUT_OF_MEMORY:
		return ENOMEM;
	default:
		return EIO;
	}
}

static bool is_tls_failure(int cc)
{
	return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
	       cc == CURLE_SSL_ISSUER_ERROR || cc == CURLE_SSL_INVALIDCERTSTATUS ||
	       cc == CURLE_SSL_CONNECT_ERROR;
}

void s3_printable(char *out, size_t n, const char *s)
{
	size_t i;

	for (i = 0; s && s[i] && i + 1 < n; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[i] = '\0';
	if (s && s[i] && n > 4)
		memcpy(out + n - 4, "...", 4);
}

static int log_level_for(int err)
{
	if (err == ENOENT)
		return LOG_DEBUG;	/* lookups of missing names are routine */
	if (err == ESTALE)
		return LOG_INFO;
	return os_error_is_transient(err) ? LOG_NOTICE : LOG_ERR;
}

int s3_error_map(const char *op, const char *key, int curl_code, const char *curl_msg,
		 int os_errno, long status, const char *s3_code, const char *s3_msg)
{
	char k[160], detail[320];
	int err = 0;

	if (s3_code && *s3_code)
		err = map_s3_code(s3_code);
	if (!err && curl_code)
		err = map_curl(curl_code, os_errno);
	if (!err)
		err = status ? map_status(status) : EIO;
	s3_printable(k, sizeof(k), key);
	if (curl_code) {
		snprintf(detail, sizeof(detail), "%s%s", curl_msg ? curl_msg : "",
			 is_tls_failure(curl_code) ?
			 "; check the endpoint's certificate or give its CA with ca_file" : "");
	} else {
		snprintf(detail, sizeof(detail), "HTTP %ld%s%s%s%s", status,
			 s3_code && *s3_code ? " " : "", s3_code ? s3_code : "",
			 s3_msg && *s3_msg ? ": " : "", s3_msg ? s3_msg : "");
	}
	log_msg(log_level_for(err), "s3 %s%s%s: %s (%s)", op ? op : "request", *k ? " " : "",
		k, strerror(err), detail);
	return err;
}
