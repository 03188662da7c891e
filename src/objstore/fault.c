/*
 * fault.c - a store wrapper that injects failures, for tests.
 *
 * Spec: comma-separated KEY=VALUE, parsed strictly (anything unknown is
 * EINVAL with a message):
 *   rate=R        probability in [0, 1] that a call of a chosen op fails
 *                 (1: every call, for tests of permanent failure); 0.1
 *   seed=N        PRNG seed: the same seed gives the same sequence; 1
 *   ops=A+B...    check head get put delete copy list list_next (LIST with a
 *                 continuation token only) mpu_create mpu_part (put and copy
 *                 part) mpu_complete mpu_abort mpu_list, "mpu" (all mpu_*),
 *                 "all"; default all
 *   kinds=A+B...  what a fault is; default 5xx+reset+truncate (all of them
 *                 fail the call, so rate=1 is a permanent failure)
 *       5xx       EAGAIN, as for 500/503/SlowDown, before the call
 *       reset     ECONNRESET before the call
 *       timeout   sleeps delay_ms, then ETIMEDOUT
 *       delay     sleeps delay_ms, then makes the call (slow, not failed)
 *       truncate  GET: delivers a random part of the body (never all of it),
 *                 then ECONNRESET
 *       tail      GET: delivers the whole body, then ECONNRESET (a connection
 *                 dropped after the last byte)
 *       lost      put, delete, copy, mpu_part, mpu_complete: makes the call,
 *                 then EAGAIN (the response was lost)
 *       eio       EIO before the call: a permanent error
 *   delay_ms=N    for timeout and delay; 100
 * E.g. "rate=0.1,seed=7,ops=get+put+list+mpu,kinds=5xx+reset+delay+truncate"
 * or "ops=mpu_complete,rate=1". Each call of a chosen op draws from one
 * PRNG (under a mutex): whether it fails, then which of the kinds that apply
 * to the op. Injected faults are logged at LOG_DEBUG.
 */
#include "config.h"
#include "objstore/objstore_impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

enum fop {
	F_CHECK = 1 << 0, F_HEAD = 1 << 1, F_GET = 1 << 2, F_PUT = 1 << 3,
	F_DELETE = 1 << 4, F_COPY = 1 << 5, F_LIST = 1 << 6, F_LIST_NEXT = 1 << 7,
	F_MPU_CREATE = 1 << 8, F_MPU_PART = 1 << 9, F_MPU_COMPLETE = 1 << 10,
	F_MPU_ABORT = 1 << 11, F_MPU_LIST = 1 << 12,
};
#define F_MPU (F_MPU_CREATE | F_MPU_PART | F_MPU_COMPLETE | F_MPU_ABORT | F_MPU_LIST)
#define F_ALL ((1 << 13) - 1)

enum fkind {
	K_NONE = 0, K_5XX = 1 << 0, K_RESET = 1 << 1, K_TIMEOUT = 1 << 2, K_DELAY = 1 << 3,
	K_TRUNCATE = 1 << 4, K_LOST = 1 << 5, K_EIO = 1 << 6, K_TAIL = 1 << 7,
};
#define K_LAST K_TAIL
#define K_ANY_OP (K_5XX | K_RESET | K_TIMEOUT | K_DELAY | K_EIO)
#define K_DEFAULT (K_5XX | K_RESET | K_TRUNCATE)

struct name_bit {
	const char *name;
	unsigned bit;
};

static const struct name_bit op_names[] = {
	{ "check", F_CHECK }, { "head", F_HEAD }, { "get", F_GET }, { "put", F_PUT },
	{ "delete", F_DELETE }, { "copy", F_COPY }, { "list", F_LIST | F_LIST_NEXT },
	{ "list_next", F_LIST_NEXT }, { "mpu_create", F_MPU_CREATE },
	{ "mpu_part", F_MPU_PART }, { "mpu_complete", F_MPU_COMPLETE },
	{ "mpu_abort", F_MPU_ABORT }, { "mpu_list", F_MPU_LIST }, { "mpu", F_MPU },
	{ "all", F_ALL }, { NULL, 0 }
};

static const struct name_bit kind_names[] = {
	{ "5xx", K_5XX }, { "reset", K_RESET }, { "timeout", K_TIMEOUT },
	{ "delay", K_DELAY }, { "truncate", K_TRUNCATE }, { "lost", K_LOST },
	{ "eio", K_EIO }, { "tail", K_TAIL }, { NULL, 0 }
};

struct fault_store {
	struct objstore base;
	double rate;
	unsigned ops;		/* enum fop bits */
	unsigned kinds;		/* enum fkind bits */
	int delay_ms;
	pthread_mutex_t lock;
	uint64_t state;		/* PRNG; protected by lock */
};

static struct fault_store *to_fs(struct objstore *s)
{
	return (struct fault_store *)s;
}

/* splitmix64: small, good enough, deterministic per seed. */
static uint64_t next_random(struct fault_store *fs)
{
	uint64_t z;

	z = (fs->state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static unsigned kinds_for(unsigned op)
{
	unsigned k = K_ANY_OP;

	if (op == F_GET)
		k |= K_TRUNCATE | K_TAIL;
	if (op & (F_PUT | F_DELETE | F_COPY | F_MPU_PART | F_MPU_COMPLETE))
		k |= K_LOST;
	return k;
}

/* Decides whether this call of op fails, and how; *cut receives a random
 * number for truncate. */
static enum fkind fault_pick(struct fault_store *fs, unsigned op, uint64_t *cut)
{
	unsigned usable = fs->kinds & kinds_for(op), bit, n = 0, i;
	enum fkind kind = K_NONE;

	if (!(fs->ops & op) || !usable)
		return K_NONE;
	for (bit = 1; bit <= K_LAST; bit <<= 1)
		n += !!(usable & bit);
	pthread_mutex_lock(&fs->lock);
	if ((double)(next_random(fs) >> 11) * 0x1.0p-53 < fs->rate) {
		i = (unsigned)(next_random(fs) % n);
		for (bit = 1; bit <= K_LAST; bit <<= 1)
			if ((usable & bit) && i-- == 0)
				kind = (enum fkind)bit;
		*cut = next_random(fs);
	}
	pthread_mutex_unlock(&fs->lock);
	return kind;
}

static void delay(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The error to return before making the call (0: make it). */
static int fault_before(struct fault_store *fs, enum fkind kind, const char *op,
			const char *key)
{
	size_t i;

	for (i = 0; kind != K_NONE && kind_names[i].name; i++)
		if (kind_names[i].bit == (unsigned)kind)
			log_msg(LOG_DEBUG, "fault: %s in %s %s", kind_names[i].name, op, key);
	switch (kind) {
	case K_5XX:
		return EAGAIN;
	case K_RESET:
		return ECONNRESET;
	case K_EIO:
		return EIO;
	case K_TIMEOUT:
		delay(fs->delay_ms);
		return ETIMEDOUT;
	case K_DELAY:
		delay(fs->delay_ms);
		return 0;
	default:
		return 0;
	}
}

/* The error to return after a call that gave err. */
static int fault_after(enum fkind kind, int err)
{
	return !err && kind == K_LOST ? EAGAIN : err;
}

/* --- ops --- */

static int f_check(struct objstore *s)
{
	uint64_t cut;
	int err = fault_before(to_fs(s), fault_pick(to_fs(s), F_CHECK, &cut), "CHECK", "");

	return err ? err : os_check(s->inner);
}

static int f_head(struct objstore *s, const char *key, struct os_stat *st)
{
	uint64_t cut;
	int err = fault_before(to_fs(s), fault_pick(to_fs(s), F_HEAD, &cut), "HEAD", key);

	return err ? err : os_head(s->inner, key, st);
}

/* Passes the first `left` bytes of a GET body on, then breaks it. */
struct truncator {
	os_sink_fn sink;
	void *arg;
	uint64_t left;
};

static int truncate_sink(void *p, const void *data, size_t len)
{
	struct truncator *t = p;
	int err;

	if (len > t->left) {
		err = t->left ? t->sink(t->arg, data, (size_t)t->left) : 0;
		t->left = 0;
		return err ? err : ECONNRESET;
	}
	t->left -= len;
	return t->sink(t->arg, data, len);
}

/* How many bytes a GET of [off, off+len) of key delivers. */
static int body_len(struct objstore *s, const char *key, uint64_t off, uint64_t len,
		    uint64_t *n)
{
	struct os_stat st;
	int err;

	err = os_head(s->inner, key, &st);
	if (err)
		return err;
	*n = off < st.size ? st.size - off : 0;
	if (len < *n)
		*n = len;
	os_stat_release(&st);
	return 0;
}

static int f_get(struct objstore *s, const char *key, uint64_t off, uint64_t len,
		 const char *etag, os_sink_fn sink, void *arg)
{
	struct truncator t = { sink, arg, 0 };
	uint64_t cut = 0, n;
	enum fkind kind = fault_pick(to_fs(s), F_GET, &cut);
	int err = fault_before(to_fs(s), kind, "GET", key);

	if (err || (kind != K_TRUNCATE && kind != K_TAIL))
		return err ? err : os_get(s->inner, key, off, len, etag, sink, arg);
	if (kind == K_TAIL) {
		err = os_get(s->inner, key, off, len, etag, sink, arg);
		return err ? err : ECONNRESET;
	}
	/* break strictly inside the body, so a truncated GET never succeeds */
	err = body_len(s, key, off, len, &n);
	if (err)
		return err;
	t.left = n ? cut % n : 0;
	err = os_get(s->inner, key, off, len, etag, truncate_sink, &t);
	return err ? err : ECONNRESET;
}

static int f_put(struct objstore *s, const char *key, const void *data, size_t len,
		 const struct os_meta *meta, char etag_out[OS_ETAG_MAX])
{
	uint64_t cut;
	enum fkind kind = fault_pick(to_fs(s), F_PUT, &cut);
	int err = fault_before(to_fs(s), kind, "PUT", key);

	return err ? err : fault_after(kind, os_put(s->inner, key, data, len, meta, etag_out));
}

static int f_del(struct objstore *s, const char *key)
{
	uint64_t cut;
	enum fkind kind = fault_pick(to_fs(s), F_DELETE, &cut);
	int err = fault_before(to_fs(s), kind, "DELETE", key);

	return err ? err : fault_after(kind, os_delete(s->inner, key));
}

static int f_del_many(struct objstore *s, const char *const *keys, size_t n)
{
	uint64_t cut;
	enum fkind kind = fault_pick(to_fs(s), F_DELETE, &cut);
	int err = fault_before(to_fs(s), kind, "DELETE", n ? keys[0] : "");

	return err ? err : fault_after(kind, s->inner->ops->del_many(s->inner, keys, n));
}

static int f_copy(struct objstore *s, const char *src, const char *dst,
		  const struct os_meta *meta, char etag_out[OS_ETAG_MAX])
{
	uint64_t cut;
	enum fkind kind = fault_pick(to_fs(s), F_COPY, &cut);
	int err = fault_before(to_fs(s), kind, "COPY", dst);

	return err ? err : fault_after(kind, s->inner->ops->copy(s->inner, src, dst, meta,
								 etag_out));
}

static int f_list(struct objstore *s, const char *prefix, const char *delimiter,
		  const char *token, int max_keys, struct os_list_page *out)
{
	uint64_t cut;
	enum fkind kind = fault_pick(to_fs(s), token ? F_LIST_NEXT : F_LIST, &cut);
	int err = fault_before(to_fs(s), kind, "LIST", prefix ? prefix : "");

	return err ? err : os_list(s->inner, prefix, delimiter, token, max_keys, out);
}

static int f_mpu_create(struct objstore *s, const char *key, const struct os_meta *meta,
			char **upload_id)
{
	uint64_t cut;
	int err = fault_before(to_fs(s), fault_pick(to_fs(s), F_MPU_CREATE, &cut),
			       "CREATE-MULTIPART", key);

	return err ? err : os_mpu_create(s->inner, key, meta, upload_id);
}

static int f_mpu_put_part(struct objstore *s, const char *key, const char *upload_id,
			  int part, const void *data, size_t len, char etag_out[OS_ETAG_MAX])
{
	uint64_t cut;
	enum fkind kind = fault_pick(to_fs(s), F_MPU_PART, &cut);
	int err = fault_before(to_fs(s), kind, "UPLOAD-PART", key);

	return err ? err : fault_after(kind, os_mpu_put_part(s->inner, key, upload_id, part,
							     data, len, etag_out));
}

static int f_mpu_copy_part(struct objstore *s, const char *key, const char *upload_id,
			   int part, const char *src_key, uint64_t off, uint64_t len,
			   char etag_out[OS_ETAG_MAX])
{
	uint64_t cut;
	enum fkind kind = fault_pick(to_fs(s), F_MPU_PART, &cut);
	int err = fault_before(to_fs(s), kind, "UPLOAD-PART-COPY", key);

	return err ? err : fault_after(kind, os_mpu_copy_part(s->inner, key, upload_id, part,
							      src_key, off, len, etag_out));
}

static int f_mpu_complete(struct objstore *s, const char *key, const char *upload_id,
			  const struct os_part *parts, size_t n, char etag_out[OS_ETAG_MAX])
{
	uint64_t cut;
	enum fkind kind = fault_pick(to_fs(s), F_MPU_COMPLETE, &cut);
	int err = fault_before(to_fs(s), kind, "COMPLETE-MULTIPART", key);

	return err ? err : fault_after(kind, os_mpu_complete(s->inner, key, upload_id, parts,
							     n, etag_out));
}

static int f_mpu_abort(struct objstore *s, const char *key, const char *upload_id)
{
	uint64_t cut;
	int err = fault_before(to_fs(s), fault_pick(to_fs(s), F_MPU_ABORT, &cut),
			       "ABORT-MULTIPART", key);

	return err ? err : os_mpu_abort(s->inner, key, upload_id);
}

static int f_mpu_list(struct objstore *s, const char *prefix, struct os_upload_list *out)
{
	uint64_t cut;
	int err = fault_before(to_fs(s), fault_pick(to_fs(s), F_MPU_LIST, &cut),
			       "LIST-MULTIPART", prefix ? prefix : "");

	return err ? err : os_mpu_list(s->inner, prefix, out);
}

static void f_destroy(struct objstore *s)
{
	os_destroy(s->inner);
	pthread_mutex_destroy(&to_fs(s)->lock);
	free(s->id);
	free(s);
}

static const struct objstore_ops fault_ops = {
	.name = "fault",
	.check = f_check,
	.head = f_head,
	.get = f_get,
	.put = f_put,
	.del = f_del,
	.del_many = f_del_many,
	.copy = f_copy,
	.list = f_list,
	.mpu_create = f_mpu_create,
	.mpu_put_part = f_mpu_put_part,
	.mpu_copy_part = f_mpu_copy_part,
	.mpu_complete = f_mpu_complete,
	.mpu_abort = f_mpu_abort,
	.mpu_list = f_mpu_list,
	.destroy = f_destroy,
};

/* --- spec parsing --- */

/* Parses "a+b+c" against names into *bits. 0 or EINVAL (bad name in err). */
static int parse_set(const char *value, const struct name_bit *names, unsigned *bits,
		     char *err, size_t errlen)
{
	const char *p = value, *end;
	size_t len, i;

	*bits = 0;
	do {
		end = strchr(p, '+');
		len = end ? (size_t)(end - p) : strlen(p);
		for (i = 0; names[i].name; i++)
			if (strlen(names[i].name) == len && strncmp(names[i].name, p, len) == 0)
				break;
		if (!names[i].name) {
			snprintf(err, errlen, "unknown name \"%.*s\"", (int)len, p);
			return EINVAL;
		}
		*bits |= names[i].bit;
		if (end)
			p = end + 1;
	} while (end);
	return 0;
}

static int parse_number(const char *value, double min, double max, double *out,
			char *err, size_t errlen)
{
	char *end;

	errno = 0;
	*out = strtod(value, &end);
	if (!*value || *end || errno || !(*out >= min && *out <= max)) {	/* also NaN */
		snprintf(err, errlen, "\"%s\" is not a number in [%g, %g]", value, min, max);
		return EINVAL;
	}
	return 0;
}

static int parse_item(struct fault_store *fs, char *item, char *err, size_t errlen)
{
	char *value = strchr(item, '=');
	bool seed;
	double d;
	int e;

	if (!value) {
		snprintf(err, errlen, "\"%s\" is not KEY=VALUE", item);
		return EINVAL;
	}
	*value++ = '\0';
	if (strcmp(item, "rate") == 0)
		return parse_number(value, 0, 1, &fs->rate, err, errlen);
	if (strcmp(item, "ops") == 0)
		return parse_set(value, op_names, &fs->ops, err, errlen);
	if (strcmp(item, "kinds") == 0)
		return parse_set(value, kind_names, &fs->kinds, err, errlen);
	if (strcmp(item, "seed") == 0 || strcmp(item, "delay_ms") == 0) {
		seed = item[0] == 's';
		e = parse_number(value, 0, seed ? 1e15 : 600000, &d, err, errlen);
		if (!e && d != (double)(uint64_t)d) {
			snprintf(err, errlen, "\"%s\" is not a whole number", value);
			e = EINVAL;
		}
		if (!e && seed)
			fs->state = (uint64_t)d;
		else if (!e)
			fs->delay_ms = (int)d;
		return e;
	}
	snprintf(err, errlen, "unknown key \"%s\" (keys: rate seed ops kinds delay_ms)", item);
	return EINVAL;
}

static int parse_spec(struct fault_store *fs, const char *spec, char *err, size_t errlen)
{
	char *copy, *item, *save = NULL, why[160];
	int e = 0;

	copy = strdup(spec);
	if (!copy)
		return ENOMEM;
	for (item = strtok_r(copy, ",", &save); item && !e; item = strtok_r(NULL, ",", &save))
		e = parse_item(fs, item, why, sizeof(why));
	free(copy);
	if (e)
		snprintf(err, errlen, "bad fault spec \"%s\": %s", spec, why);
	return e;
}

int fault_store_create(struct objstore *inner, const char *spec, struct objstore **out,
		       char *err, size_t errlen)
{
	struct fault_store *fs;
	int e;

	fs = calloc(1, sizeof(*fs));
	if (fs)
		fs->base.id = strdup(os_id(inner));
	if (!fs || !fs->base.id) {
		free(fs);
		os_destroy(inner);
		snprintf(err, errlen, "out of memory");
		return ENOMEM;
	}
	fs->base.ops = &fault_ops;
	fs->base.inner = inner;
	fs->rate = 0.1;
	fs->state = 1;
	fs->ops = F_ALL;
	fs->kinds = K_DEFAULT;
	fs->delay_ms = 100;
	pthread_mutex_init(&fs->lock, NULL);
	e = parse_spec(fs, spec ? spec : "", err, errlen);
	if (e) {
		f_destroy(&fs->base);
		return e;
	}
	*out = &fs->base;
	return 0;
}
