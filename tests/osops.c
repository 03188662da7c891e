/*
 * osops.c - one operation test for every backend of the object store.
 *
 *   tests/osops SOURCE            runs every op against SOURCE
 *   tests/osops --check SOURCE    only opens SOURCE and calls os_check
 *
 * SOURCE is what a user would name (file:///DIR/BUCKET, BUCKET, s3://...),
 * opened with os_open() exactly as the programs do, so the same body tests
 * the local store and the S3 client (configured by the AWS environment).
 * Everything the test writes is under the key prefix "osops-PID/" and is
 * deleted again; the bucket must exist. Only behaviour S3 defines is
 * checked here (the local store's own rules are in tests/unit).
 * Exit 0 when every check passed, 1 otherwise, 2 when SOURCE cannot be used
 * (the reason, with the errno name, is printed on one line).
 */
#include "config.h"
#include "objstore/objstore.h"
#include "objstore/objstore_impl.h"
#include "objstore/source.h"
#include "objstore/upload.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "unit/check.h"
#include "unit/oscheck.h"
#include "util/buf.h"
#include "util/log.h"

#define MIB (1u << 20)
#define PART (5 * MIB)

static char pfx[64];		/* "osops-PID/" */
static char *data;		/* 18 MiB of pseudo-random bytes */
static size_t data_len = 18 * MIB;

static const char *errname(int err)
{
	static const struct { int err; const char *name; } names[] = {
		{ 0, "OK" }, { ENOENT, "ENOENT" }, { EACCES, "EACCES" }, { EEXIST, "EEXIST" },
		{ EINVAL, "EINVAL" }, { ENAMETOOLONG, "ENAMETOOLONG" }, { ESTALE, "ESTALE" },
		{ EAGAIN, "EAGAIN" }, { ETIMEDOUT, "ETIMEDOUT" }, { ECONNRESET, "ECONNRESET" },
		{ ECONNREFUSED, "ECONNREFUSED" }, { EHOSTUNREACH, "EHOSTUNREACH" },
		{ EIO, "EIO" }, { ENOMEM, "ENOMEM" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].err == err)
			return names[i].name;
	return "E?";
}

/* CHECK_INT for errnos, naming both sides when they differ. */
static bool check_err(int got, int want, const char *what, int line)
{
	if (check_(got == want, what, __FILE__, line))
		return true;
	fprintf(stderr, "  got %s (%s), want %s\n", errname(got), strerror(got), errname(want));
	return false;
}
#define CHECK_ERR(expr, want) check_err((expr), (want), #expr, __LINE__)

/* The test's key for name (static buffer: use at once). */
static const char *K(const char *name)
{
	static __thread char keys[4][OS_KEY_MAX + 1];
	static __thread int next;
	char *k = keys[next++ % 4];

	snprintf(k, OS_KEY_MAX + 1, "%s%s", pfx, name);
	return k;
}

/* --- object ops --- */

static void test_objects(struct objstore *s)
{
	struct os_meta meta = { NULL, 0 };
	char etag[OS_ETAG_MAX];
	struct buf b = BUF_INIT;
	struct os_stat st;

	CHECK_ERR(os_put(s, K("hello"), "hello", 5, NULL, etag), 0);
	CHECK(streq(etag, "5d41402abc4b2a76b9719d911017c592"));
	CHECK(get_is(s, K("hello"), "hello", 5));
	CHECK_ERR(os_head(s, K("hello"), &st), 0);
	CHECK_INT(st.size, 5);
	CHECK(streq(st.etag, etag));
	CHECK(st.mtime_ns > 1600000000LL * 1000000000);
	os_stat_release(&st);

	os_meta_set(&meta, "mode", "100644");
	os_meta_set(&meta, "Uid", "1000");
	CHECK_ERR(os_put(s, K("meta"), "m", 1, &meta, NULL), 0);
	CHECK_ERR(os_head(s, K("meta"), &st), 0);
	CHECK(streq(os_meta_get(&st.meta, "mode"), "100644"));
	CHECK(streq(os_meta_get(&st.meta, "uid"), "1000"));
	os_stat_release(&st);
	os_meta_release(&meta);

	CHECK_ERR(os_put(s, K("empty"), NULL, 0, NULL, etag), 0);
	CHECK(streq(etag, "d41d8cd98f00b204e9800998ecf8427e"));
	CHECK(get_is(s, K("empty"), "", 0));

	/* ranges and conditions */
	CHECK_ERR(os_put(s, K("digits"), "0123456789", 10, NULL, etag), 0);
	CHECK_ERR(get_buf(s, K("digits"), 2, 3, NULL, &b), 0);
	CHECK(b.len == 3 && memcmp(b.data, "234", 3) == 0);
	CHECK_ERR(get_buf(s, K("digits"), 7, 100, NULL, &b), 0);
	CHECK(b.len == 3 && memcmp(b.data, "789", 3) == 0);
	CHECK_ERR(get_buf(s, K("digits"), 9, OS_RANGE_TO_END, NULL, &b), 0);
	CHECK(b.len == 1);
	CHECK_ERR(get_buf(s, K("digits"), 10, 5, NULL, &b), EINVAL);
	CHECK_ERR(get_buf(s, K("digits"), 0, 4, etag, &b), 0);
	CHECK_ERR(get_buf(s, K("digits"), 0, 4, "0123456789abcdef0123456789abcdef", &b), ESTALE);

	/* missing keys */
	CHECK_ERR(os_head(s, K("nope"), &st), ENOENT);
	CHECK_ERR(get_buf(s, K("nope"), 0, 1, NULL, &b), ENOENT);
	CHECK_ERR(os_delete(s, K("nope")), 0);

	/* copies */
	os_meta_set(&meta, "mode", "100600");
	CHECK_ERR(os_copy(s, K("meta"), K("copy"), NULL, etag), 0);
	CHECK(get_is(s, K("copy"), "m", 1));
	CHECK_ERR(os_head(s, K("copy"), &st), 0);
	CHECK(streq(os_meta_get(&st.meta, "mode"), "100644"));
	os_stat_release(&st);
	CHECK_ERR(os_copy(s, K("copy"), K("copy"), &meta, NULL), 0);
	CHECK_ERR(os_head(s, K("copy"), &st), 0);
	CHECK(streq(os_meta_get(&st.meta, "mode"), "100600"));
	CHECK(os_meta_get(&st.meta, "uid") == NULL);
	os_stat_release(&st);
	CHECK(get_is(s, K("copy"), "m", 1));
	CHECK_ERR(os_copy(s, K("nope"), K("x"), NULL, NULL), ENOENT);
	os_meta_release(&meta);

	CHECK_ERR(os_delete(s, K("hello")), 0);
	CHECK_ERR(os_head(s, K("hello"), &st), ENOENT);
	buf_release(&b);
}

/* --- listing --- */

/* Checks the listing under the test's prefix + prefix, keys shown without
 * the test's prefix. */
static void check_list(struct objstore *s, const char *prefix, const char *delim,
		       int max_keys, const char *want, int want_pages)
{
	check_list_text(s, K(prefix), delim, max_keys, strlen(pfx), want, want_pages);
}

static void test_list(struct objstore *s)
{
	static const char *const keys[] = {
		"l/a-b", "l/a/b", "l/a/c/d", "l/a0", "l/b/", "l/b/x", "l/c", NULL
	};
	const char *dels[8];
	int i;

	for (i = 0; keys[i]; i++)	/* "l/b/" is a directory marker: empty */
		CHECK_ERR(os_put(s, K(keys[i]), "v", keys[i][strlen(keys[i]) - 1] != '/', NULL,
				 NULL), 0);
	check_list(s, "l/", NULL, 0, "l/a-b l/a/b l/a/c/d l/a0 l/b/ l/b/x l/c", 1);
	check_list(s, "l/", NULL, 2, "l/a-b l/a/b l/a/c/d l/a0 l/b/ l/b/x l/c", 4);
	check_list(s, "l/", NULL, 1, "l/a-b l/a/b l/a/c/d l/a0 l/b/ l/b/x l/c", 7);
	check_list(s, "l/", "/", 0, "l/a-b [l/a/] l/a0 [l/b/] l/c", 1);
	check_list(s, "l/", "/", 1, "l/a-b [l/a/] l/a0 [l/b/] l/c", 5);
	check_list(s, "l/a/", "/", 0, "l/a/b [l/a/c/]", 1);
	check_list(s, "l/a", "/", 0, "l/a-b [l/a/] l/a0", 1);
	check_list(s, "l/b/", "/", 0, "l/b/ l/b/x", 1);
	check_list(s, "l/zzz", NULL, 0, "", 1);
	check_list(s, "l/", "-", 0, "[l/a-] l/a/b l/a/c/d l/a0 l/b/ l/b/x l/c", 1);
	for (i = 0; keys[i]; i++)
		dels[i] = strdup(K(keys[i]));
	CHECK_ERR(os_delete_keys(s, dels, (size_t)i), 0);
	while (i > 0)
		free((char *)dels[--i]);
	check_list(s, "l/", NULL, 0, "", 1);
}

/* Eight threads PUT keys[i] for i = id, id + 8, ... */
struct putter {
	struct objstore *s;
	char **keys;
	int n, id, ok;
	pthread_t thread;
};

static void *putter_main(void *arg)
{
	struct putter *p = arg;
	int i;

	for (i = p->id; i < p->n; i += 8)
		p->ok += os_put(p->s, p->keys[i], "", 0, NULL, NULL) == 0;
	return NULL;
}

/* More keys than one DeleteObjects request takes, written by 8 threads. */
static void test_delete_many(struct objstore *s)
{
	enum { N = 1010 };
	struct putter p[8];
	char **keys;
	char name[32];
	int i, ok = 0, pages = 0;

	keys = calloc(N, sizeof(*keys));
	if (!keys)
		return;
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "many/%04d", i);
		keys[i] = strdup(K(name));
	}
	for (i = 0; i < 8; i++) {
		p[i] = (struct putter){ s, keys, N, i, 0, 0 };
		pthread_create(&p[i].thread, NULL, putter_main, &p[i]);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(p[i].thread, NULL);
		ok += p[i].ok;
	}
	CHECK_INT(ok, N);
	free(list_text(s, K("many/"), NULL, 0, strlen(pfx), &pages));
	CHECK_INT(pages, 2);	/* 1000 + 10 */
	CHECK_ERR(os_delete_keys(s, (const char *const *)keys, N), 0);
	check_list(s, "many/", NULL, 0, "", 1);
	for (i = 0; i < N; i++)
		free(keys[i]);
	free(keys);
}

/* --- multipart --- */

static bool no_uploads(struct objstore *s)
{
	struct os_upload_list ul;
	bool none;

	if (os_mpu_list(s, pfx, &ul))
		return false;
	none = ul.n == 0;
	os_upload_list_release(&ul);
	return none;
}

static void test_mpu(struct objstore *s)
{
	struct os_part parts[2], bad[2];
	struct os_upload_list ul;
	char etag[OS_ETAG_MAX], want[OS_ETAG_MAX], *id = NULL, *id2 = NULL;
	struct os_meta meta = { NULL, 0 };
	struct os_stat st;

	os_meta_set(&meta, "mode", "100640");
	CHECK_ERR(os_mpu_create(s, K("mp"), &meta, &id), 0);
	os_meta_release(&meta);
	if (!id)
		return;
	CHECK_ERR(os_mpu_list(s, pfx, &ul), 0);
	CHECK(ul.n == 1 && streq(ul.uploads[0].upload_id, id) &&
	      streq(ul.uploads[0].key, K("mp")));
	os_upload_list_release(&ul);
	parts[0].number = 1;
	parts[1].number = 2;
	CHECK_ERR(os_mpu_put_part(s, K("mp"), id, 2, data + PART, 1000, parts[1].etag), 0);
	CHECK_ERR(os_mpu_put_part(s, K("mp"), id, 1, data, PART, parts[0].etag), 0);
	memcpy(bad, parts, sizeof(bad));
	bad[1].etag[0] = bad[1].etag[0] == '0' ? '1' : '0';
	CHECK_ERR(os_mpu_complete(s, K("mp"), id, bad, 2, etag), EINVAL);
	CHECK_ERR(os_mpu_complete(s, K("mp"), id, parts, 2, etag), 0);
	CHECK(strlen(etag) > 3 && streq(etag + strlen(etag) - 2, "-2"));
	/* the retry wrapper recognises a completed upload by this ETag */
	CHECK_ERR(os_etag_multipart(parts, 2, want), 0);
	CHECK(streq(etag, want));
	CHECK(get_is(s, K("mp"), data, PART + 1000));
	CHECK_ERR(os_head(s, K("mp"), &st), 0);
	CHECK(streq(st.etag, etag));
	CHECK(streq(os_meta_get(&st.meta, "mode"), "100640"));
	os_stat_release(&st);

	/* small parts, part copies, abort */
	CHECK_ERR(os_mpu_create(s, K("mp2"), NULL, &id2), 0);
	CHECK_ERR(os_mpu_put_part(s, K("mp2"), id2, 1, data, 100, bad[0].etag), 0);
	CHECK_ERR(os_mpu_put_part(s, K("mp2"), id2, 2, data, 100, bad[1].etag), 0);
	CHECK_ERR(os_mpu_complete(s, K("mp2"), id2, bad, 2, etag), EINVAL);
	CHECK_ERR(os_mpu_copy_part(s, K("mp2"), id2, 1, K("mp"), 0, PART, parts[0].etag), 0);
	CHECK_ERR(os_mpu_copy_part(s, K("mp2"), id2, 2, K("mp"), PART, 1000, parts[1].etag), 0);
	CHECK_ERR(os_mpu_complete(s, K("mp2"), id2, parts, 2, etag), 0);
	CHECK(get_is(s, K("mp2"), data, PART + 1000));
	free(id2);
	CHECK_ERR(os_mpu_create(s, K("mp3"), NULL, &id2), 0);
	CHECK_ERR(os_mpu_put_part(s, K("mp3"), id2, 1, data, 10, etag), 0);
	CHECK_ERR(os_mpu_abort(s, K("mp3"), id2), 0);
	CHECK_ERR(os_head(s, K("mp3"), &st), ENOENT);
	free(id2);
	CHECK_ERR(os_mpu_put_part(s, K("mp"), id, 1, data, 10, etag), ENOENT);	/* completed */
	CHECK(no_uploads(s));
	free(id);
	CHECK_ERR(os_delete(s, K("mp")), 0);
	CHECK_ERR(os_delete(s, K("mp2")), 0);
}

static void test_upload(struct objstore *s)
{
	struct os_upload_opts opts = { PART, 3 };
	char etag[OS_ETAG_MAX];
	struct os_upload *u;
	size_t sizes[] = { 0, 1, PART, 7 * PART / 2 }, i, off, n;
	char key[32];

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(key, sizeof(key), "up/%zu", sizes[i]);
		if (!CHECK_ERR(os_upload_create(s, K(key), NULL, &opts, &u), 0))
			continue;
		for (off = 0; off < sizes[i]; off += n) {
			n = sizes[i] - off < 300001 ? sizes[i] - off : 300001;
			CHECK_ERR(os_upload_write(u, data + off, n), 0);
		}
		CHECK_ERR(os_upload_finish(u, etag), 0);
		CHECK(get_is(s, K(key), data, sizes[i]));
		CHECK((strchr(etag, '-') != NULL) == (sizes[i] > PART));
		CHECK_ERR(os_delete(s, K(key)), 0);
	}
	CHECK(no_uploads(s));
}

/* --- main --- */

/* Runs one group of checks and says how long it took. */
static void timed(const char *name, void (*fn)(struct objstore *), struct objstore *s)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	fn(s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "osops: %s %.1f s\n", name,
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

static int open_source(const char *text, struct objstore **s)
{
	struct os_source src;
	char err[512] = "";
	int rc;

	rc = os_source_parse(text, &src, err, sizeof(err));
	if (!rc) {
		rc = os_open(&src, NULL, s, err, sizeof(err));
		os_source_release(&src);
	}
	if (!rc) {
		rc = os_check(*s);
		if (rc)
			snprintf(err, sizeof(err), "bucket check failed");
	}
	if (rc) {
		fprintf(stderr, "osops: %s: %s: %s (%s)\n", text, err, strerror(rc), errname(rc));
		if (*s)
			os_destroy(*s);
		*s = NULL;
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct objstore *s = NULL;
	bool only_check = argc == 3 && strcmp(argv[1], "--check") == 0;
	unsigned seed = 1;
	size_t i;

	if (argc != 2 && !only_check) {
		fprintf(stderr, "usage: %s [--check] SOURCE\n", argv[0]);
		return 2;
	}
	/* the full run provokes errors on purpose: only --check shows the store's log */
	log_init("osops", getenv("V") ? LOG_DEBUG : only_check ? LOG_WARNING : LOG_CRIT);
	if (open_source(argv[argc - 1], &s))
		return 2;
	if (only_check) {
		printf("osops: %s: OK\n", os_id(s));
		os_destroy(s);
		return 0;
	}
	snprintf(pfx, sizeof(pfx), "osops-%ld/", (long)getpid());
	data = malloc(data_len);
	if (!data)
		return 2;
	for (i = 0; i < data_len; i++) {
		seed = seed * 1103515245 + 12345;
		data[i] = (char)(seed >> 16);
	}
	timed("objects", test_objects, s);
	timed("list", test_list, s);
	timed("delete_many", test_delete_many, s);
	timed("multipart", test_mpu, s);
	timed("upload", test_upload, s);
	check_list(s, "", NULL, 0, "copy digits empty meta", 0);
	{
		const char *rest[] = { K("meta"), K("empty"), K("digits"), K("copy") };

		CHECK_ERR(os_delete_keys(s, rest, 4), 0);
	}
	check_list(s, "", NULL, 0, "", 1);
	fprintf(stderr, "osops: %s: ", os_id(s));
	os_destroy(s);
	free(data);
	return check_exit();
}
