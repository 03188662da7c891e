/*
 * retry.c - a store wrapper that retries transient errors.
 *
 * Every op is run in the same loop: call the wrapped store; when the error
 * is transient (os_error_is_transient) and both the attempt count
 * (cfg->retries extra attempts, default 8) and the time budget
 * (cfg->retry_budget_ms, default 60 s) allow it, sleep a random time in
 * [0, min(10 s, base * 2^n)] ("full jitter": concurrent clients that failed
 * together do not retry together) and try again. Each retry is logged at
 * LOG_INFO, giving up at LOG_ERR, and giving up returns EIO. Permanent errors
 * (ENOENT, EACCES, EINVAL...) come back at once, unchanged. The base is
 * 100 ms; tests may lower it with LITHFS_RETRY_BASE_MS.
 *
 * Three ops need more than a loop:
 *   - GET streams into the caller's sink. When a transfer breaks after n
 *     bytes, the retry asks for the rest only (off+n) and pins the object
 *     with If-Match, so the sink sees every byte exactly once and all of them
 *     from one version (ESTALE if the object changed). Without an ETag from
 *     the caller, the one to pin is taken with a HEAD at the first resume.
 *   - mpu_complete whose response was lost may have completed: a retry then
 *     finds no such upload (ENOENT). If the key now has the ETag S3 gives
 *     exactly these parts, that is success.
 *   - mpu_abort likewise treats ENOENT after a lost response as done.
 * The sleeping thread is the caller's: ops are synchronous.
 */
#include "config.h"
#include "objstore/objstore_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util/log.h"

#define RETRIES_DEFAULT 8
#define BUDGET_MS_DEFAULT 60000
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 10000

struct retry_store {
	struct objstore base;
	int retries;		/* extra attempts per op */
	int budget_ms;		/* time per op, attempts and sleeps together */
	int base_ms;		/* first backoff ceiling */
};

/* The retry state of one op call. */
struct attempt {
	const struct retry_store *rs;
	const char *op;
	const char *key;
	int retries;		/* retries done so far */
	int64_t start_ms;
	bool gave_up;
};

static struct retry_store *to_rs(struct objstore *s)
{
	return (struct retry_store *)s;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A per-thread xorshift64* generator: jitter needs no shared state. */
static uint64_t jitter_random(void)
{
	static __thread uint64_t state;

	if (!state && (getrandom(&state, sizeof(state), 0) != sizeof(state) || !state))
		state = (uint64_t)now_ms() | 1;
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return state * 0x2545F4914F6CDD1DULL;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void attempt_init(struct attempt *a, struct objstore *s, const char *op,
			 const char *key)
{
	a->rs = to_rs(s);
	a->op = op;
	a->key = key ? key : "";
	a->retries = 0;
	a->start_ms = now_ms();
	a->gave_up = false;
}

/* After a failed call: true when the op should be tried again (the backoff
 * has been slept), false when err is final. */
static bool retry_again(struct attempt *a, int err)
{
	int64_t ceiling, wait, elapsed;

	if (!os_error_is_transient(err))
		return false;
	elapsed = now_ms() - a->start_ms;
	ceiling = (int64_t)a->rs->base_ms << (a->retries < 20 ? a->retries : 20);
	if (ceiling > BACKOFF_CAP_MS)
		ceiling = BACKOFF_CAP_MS;
	wait = (int64_t)(jitter_random() % (uint64_t)(ceiling + 1));
	if (a->retries >= a->rs->retries || elapsed + wait > a->rs->budget_ms) {
		a->gave_up = true;
		log_msg(LOG_ERR, "%s %s: %s; giving up after %d attempts in %.1f s",
			a->op, a->key, strerror(err), a->retries + 1, (double)elapsed / 1000);
		return false;
	}
	a->retries++;
	log_msg(LOG_INFO, "%s %s: %s; retry %d of %d in %lld ms", a->op, a->key,
		strerror(err), a->retries, a->rs->retries, (long long)wait);
	sleep_ms(wait);
	return true;
}

static int attempt_result(const struct attempt *a, int err)
{
	return a->gave_up ? EIO : err;
}

/* --- ops that are a plain loop --- */

/* The start-up check: a person waits for its verdict, so it tries only
 * CHECK_ATTEMPTS times and returns the last error itself (ECONNREFUSED says
 * "cannot reach the endpoint"; EIO would say nothing). */
#define CHECK_ATTEMPTS 3

static int r_check(struct objstore *s)
{
	struct attempt a;
	int err;

	attempt_init(&a, s, "CHECK", os_id(s));
	do
		err = os_check(s->inner);
	while (a.retries + 1 < CHECK_ATTEMPTS && retry_again(&a, err));
	return err;
}

static int r_head(struct objstore *s, const char *key, struct os_stat *st)
{
	struct attempt a;
	int err;

	attempt_init(&a, s, "HEAD", key);
	do
		err = os_head(s->inner, key, st);
	while (retry_again(&a, err));
	return attempt_result(&a, err);
}

static int r_put(struct objstore *s, const char *key, const void *data, size_t len,
		 const struct os_meta *meta, char etag_out[OS_ETAG_MAX])
{
	struct attempt a;
	int err;

	attempt_init(&a, s, "PUT", key);
	do
		err = os_put(s->inner, key, data, len, meta, etag_out);
	while (retry_again(&a, err));
	return attempt_result(&a, err);
}

static int r_del(struct objstore *s, const char *key)
{
	struct attempt a;
	int err;

	attempt_init(&a, s, "DELETE", key);
	do
		err = os_delete(s->inner, key);
	while (retry_again(&a, err));
	return attempt_result(&a, err);
}

static int r_del_many(struct objstore *s, const char *const *keys, size_t n)
{
	struct attempt a;
	int err;

	attempt_init(&a, s, "DELETE", n ? keys[0] : "");
	do
		err = s->inner->ops->del_many(s->inner, keys, n);
	while (retry_again(&a, err));
	return attempt_result(&a, err);
}

static int r_copy(struct objstore *s, const char *src, const char *dst,
		  const struct os_meta *meta, char etag_out[OS_ETAG_MAX])
{
	struct attempt a;
	int err;

	attempt_init(&a, s, "COPY", dst);
	do
		err = s->inner->ops->copy(s->inner, src, dst, meta, etag_out);
	while (retry_again(&a, err));
	return attempt_result(&a, err);
}

static int r_list(struct objstore *s, const char *prefix, const char *delimiter,
		  const char *token, int max_keys, struct os_list_page *out)
{
	struct attempt a;
	int err;

	attempt_init(&a, s, "LIST", prefix);
	do
		err = os_list(s->inner, prefix, delimiter, token, max_keys, out);
	while (retry_again(&a, err));
	return attempt_result(&a, err);
}

static int r_mpu_create(struct objstore *s, const char *key, const struct os_meta *meta,
			char **upload_id)
{
	struct attempt a;
	int err;

	attempt_init(&a, s, "CREATE-MULTIPART", key);
	do
		err = os_mpu_create(s->inner, key, meta, upload_id);
	while (retry_again(&a, err));
	return attempt_result(&a, err);
}

static int r_mpu_put_part(struct objstore *s, const char *key, const char *upload_id,
			  int part, const void *data, size_t len, char etag_out[OS_ETAG_MAX])
{
	struct attempt a;
	int err;

	attempt_init(&a, s, "UPLOAD-PART", key);
	do
		err = os_mpu_put_part(s->inner, key, upload_id, part, data, len, etag_out);
	while (retry_again(&a, err));
	return attempt_result(&a, err);
}

static int r_mpu_copy_part(struct objstore *s, const char *key, const char *upload_id,
			   int part, const char *src_key, uint64_t off, uint64_t len,
			   char etag_out[OS_ETAG_MAX])
{
	struct attempt a;
	int err;

	attempt_init(&a, s, "UPLOAD-PART-COPY", key);
	do
		err = os_mpu_copy_part(s->inner, key, upload_id, part, src_key, off, len,
				       etag_out);
	while (retry_again(&a, err));
	return attempt_result(&a, err);
}

static int r_mpu_list(struct objstore *s, const char *prefix, struct os_upload_list *out)
{
	struct attempt a;
	int err;

	attempt_init(&a, s, "LIST-MULTIPART", prefix);
	do
		err = os_mpu_list(s->inner, prefix, out);
	while (retry_again(&a, err));
	return attempt_result(&a, err);
}

/* --- ops whose retry needs care --- */

/* Whether an earlier attempt of complete did complete: key has the ETag of
 * exactly these parts. */
static bool completed_before(struct objstore *s, const char *key, const struct os_part *parts,
			     size_t n, char etag_out[OS_ETAG_MAX])
{
	char want[OS_ETAG_MAX];
	struct os_stat st;
	bool done;

	if (os_etag_multipart(parts, n, want) || os_head(s->inner, key, &st))
		return false;
	done = strcmp(st.etag, want) == 0;
	os_stat_release(&st);
	if (done && etag_out)
		memcpy(etag_out, want, OS_ETAG_MAX);
	return done;
}

static int r_mpu_complete(struct objstore *s, const char *key, const char *upload_id,
			  const struct os_part *parts, size_t n, char etag_out[OS_ETAG_MAX])
{
	struct attempt a;
	int err;

	attempt_init(&a, s, "COMPLETE-MULTIPART", key);
	do {
		err = os_mpu_complete(s->inner, key, upload_id, parts, n, etag_out);
		if (err == ENOENT && a.retries > 0 && completed_before(s, key, parts, n, etag_out))
			err = 0;
	} while (retry_again(&a, err));
	return attempt_result(&a, err);
}

static int r_mpu_abort(struct objstore *s, const char *key, const char *upload_id)
{
	struct attempt a;
	int err;

	attempt_init(&a, s, "ABORT-MULTIPART", key);
	do {
		err = os_mpu_abort(s->inner, key, upload_id);
		if (err == ENOENT && a.retries > 0)
			err = 0;	/* an earlier attempt aborted it */
	} while (retry_again(&a, err));
	return attempt_result(&a, err);
}

/* Counts what reaches the caller's sink, so a retry can resume after it. */
struct resume {
	os_sink_fn sink;
	void *arg;
	uint64_t delivered;
	int sink_err;		/* the caller's sink stopped the transfer */
};

static int resume_sink(void *p, const void *data, size_t len)
{
	struct resume *r = p;

	r->sink_err = r->sink(r->arg, data, len);
	if (!r->sink_err)
		r->delivered += len;
	return r->sink_err;
}

/* Gets the ETag to resume a GET with when the caller gave none. */
static int pin_etag(struct objstore *s, const char *key, char etag[OS_ETAG_MAX])
{
	struct os_stat st;
	int err;

	err = os_head(s->inner, key, &st);
	if (err)
		return err == ENOENT ? ESTALE : err;
	memcpy(etag, st.etag, OS_ETAG_MAX);
	os_stat_release(&st);
	return 0;
}

static int r_get(struct objstore *s, const char *key, uint64_t off, uint64_t len,
		 const char *etag, os_sink_fn sink, void *arg)
{
	struct resume r = { sink, arg, 0, 0 };
	char pinned[OS_ETAG_MAX];
	struct attempt a;
	uint64_t done;
	int err;

	attempt_init(&a, s, "GET", key);
	do {
		done = r.delivered;
		err = 0;
		if (done > 0 && !etag) {
			err = pin_etag(s, key, pinned);
			etag = err ? NULL : pinned;
		}
		if (!err)
			err = os_get(s->inner, key, off + done,
				     len == OS_RANGE_TO_END ? len : len - done, etag,
				     resume_sink, &r);
		if (err && r.sink_err)
			return err;
		/* broken after the last byte: resuming at the end of the object
		 * (pinned by If-Match) is no error, whatever len asked for */
		if ((err == EINVAL && done > 0) ||
		    (os_error_is_transient(err) && len != OS_RANGE_TO_END && len > 0 &&
		     r.delivered == len))
			err = 0;
	} while (retry_again(&a, err));
	return attempt_result(&a, err);
}

static void r_destroy(struct objstore *s)
{
	os_destroy(s->inner);
	free(s->id);
	free(s);
}

static const struct objstore_ops retry_ops = {
	.name = "retry",
	.check = r_check,
	.head = r_head,
	.get = r_get,
	.put = r_put,
	.del = r_del,
	.del_many = r_del_many,
	.copy = r_copy,
	.list = r_list,
	.mpu_create = r_mpu_create,
	.mpu_put_part = r_mpu_put_part,
	.mpu_copy_part = r_mpu_copy_part,
	.mpu_complete = r_mpu_complete,
	.mpu_abort = r_mpu_abort,
	.mpu_list = r_mpu_list,
	.destroy = r_destroy,
};

int retry_store_create(struct objstore *inner, const struct os_config *cfg,
		       struct objstore **out)
{
	struct retry_store *rs;
	const char *base;

	rs = calloc(1, sizeof(*rs));
	if (rs)
		rs->base.id = strdup(os_id(inner));
	if (!rs || !rs->base.id) {
		free(rs);
		os_destroy(inner);
		return ENOMEM;
	}
	rs->base.ops = &retry_ops;
	rs->base.inner = inner;
	rs->retries = cfg && cfg->retries ? cfg->retries : RETRIES_DEFAULT;
	rs->budget_ms = cfg && cfg->retry_budget_ms ? cfg->retry_budget_ms : BUDGET_MS_DEFAULT;
	if (rs->retries < 0)
		rs->retries = 0;
	if (rs->budget_ms < 0)
		rs->budget_ms = 0;
	base = getenv("LITHFS_RETRY_BASE_MS");
	rs->base_ms = base && atoi(base) > 0 ? atoi(base) : BACKOFF_BASE_MS;
	*out = &rs->base;
	return 0;
}
