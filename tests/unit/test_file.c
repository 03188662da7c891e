/*
 * test_file.c - the file-content engine (src/fs/file.c) against the
 * local-directory store in a temporary directory: no FUSE, no network.
 *
 * Every case keeps an in-memory model of what the file must contain and
 * compares both the file's reads and the published object with it. Faults
 * come from a second store stack over the same directory with a fault
 * wrapper; the fs_file borrows its ctx, so pointing ctx.store at the clean
 * stack "removes" the faults for a retry.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/reader.h"
#include "check.h"
#include "fs/file.h"
#include "objstore/objstore_impl.h"

#define MiB ((size_t)1 << 20)
#define PART (5 * MiB)

static char root[64] = "/tmp/lithfs-test-file-XXXXXX";
static char staging[96];
static struct objstore *store;	/* clean stack */
static struct rd *reader;
static struct file_ctx ctx;

/* ---- helpers ---- */

static uint64_t rng = 88172645463325252ULL;

static uint32_t rnd(void)	/* xorshift64: no short cycles in the low bits */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 32);
}

static void fill_random(unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)rnd();
}

/* Byte at offset off of the "pattern" contents: any range can be checked. */
static unsigned char pattern(uint64_t off, unsigned seed)
{
	return (unsigned char)((off * 2654435761u >> 13) + seed);
}

static void fill_pattern(unsigned char *p, uint64_t off, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = pattern(off + i, seed);
}

struct sink_buf {
	unsigned char *data;
	size_t len, cap;
};

static int sink(void *arg, const void *data, size_t len)
{
	struct sink_buf *b = arg;

	if (b->len + len > b->cap)
		return EOVERFLOW;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

/* The object's whole contents must be exp[0..len). */
static int object_is(const char *key, const unsigned char *exp, size_t len)
{
	struct sink_buf b = { malloc(len + 1), 0, len + 1 };
	int err = os_get(store, key, 0, OS_RANGE_TO_END, NULL, sink, &b);
	int ok = !err && b.len == len && memcmp(b.data, exp, len) == 0;

	if (!ok)
		fprintf(stderr, "object %s: err %d, %zu bytes, want %zu\n", key, err, b.len, len);
	free(b.data);
	return ok;
}

/* The file reads back as exp[0..len), in pieces of odd sizes. */
static int file_is(struct fs_file *f, const unsigned char *exp, size_t len)
{
	unsigned char *got = malloc(len + 4096);
	size_t off = 0, n;
	int ok = file_size(f) == len;

	while (ok && off < len + 1) {
		size_t want = 777 * 1024 + 13;

		ok = file_read(f, got + off, want, (off_t)off, &n) == 0;
		if (ok && n == 0)
			break;
		off += n;
	}
	ok = ok && off == len && memcmp(got, exp, len) == 0;
	if (!ok)
		fprintf(stderr, "file contents differ (read %zu of %zu)\n", off, len);
	free(got);
	return ok;
}

static void put_object(const char *key, const unsigned char *data, size_t len)
{
	CHECK_INT(os_put(store, key, data, len, NULL, NULL), 0);
}

static int open_existing(const char *key, bool trunc, struct fs_file **f)
{
	struct os_stat st;
	int err;

	memset(&st, 0, sizeof(st));
	err = os_head(ctx.store, key, &st);
	if (!err)
		err = file_open(&ctx, key, &st, trunc, f);
	os_stat_release(&st);
	return err;
}

static size_t uploads_in_progress(void)
{
	struct os_upload_list l;
	size_t n;

	memset(&l, 0, sizeof(l));
	if (os_mpu_list(store, NULL, &l) != 0)
		return (size_t)-1;
	n = l.n;
	os_upload_list_release(&l);
	return n;
}

static int flush_plain(struct fs_file *f, struct os_stat *st)
{
	struct os_meta m = { NULL, 0 };
	int err;

	os_meta_set(&m, "mode", "33188");
	err = file_flush(f, &m, st);
	os_meta_release(&m);
	return err;
}

/* ---- cases ---- */

static void test_new_small(void)
{
	unsigned char data[100000];
	struct fs_file *f;
	struct os_stat st, head;

	fill_random(data, sizeof(data));
	CHECK_INT(file_open(&ctx, "small", NULL, false, &f), 0);
	CHECK(file_dirty(f));	/* a new file is created at flush even if empty */
	CHECK_INT(file_write(f, data, 60000, 0), 0);
	CHECK_INT(file_write(f, data + 60000, sizeof(data) - 60000, 60000), 0);
	CHECK(file_is(f, data, sizeof(data)));
	memset(&head, 0, sizeof(head));
	CHECK_INT(os_head(store, "small", &head), ENOENT);	/* nothing before flush */
	CHECK_INT(flush_plain(f, &st), 0);
	CHECK(!file_dirty(f));
	CHECK_INT(st.size, sizeof(data));
	memset(&head, 0, sizeof(head));
	CHECK_INT(os_head(store, "small", &head), 0);
	CHECK_STR(head.etag, st.etag);
	CHECK_STR(os_meta_get(&head.meta, "mode"), "33188");
	CHECK(object_is("small", data, sizeof(data)));
	CHECK(file_is(f, data, sizeof(data)));	/* now through the reader */
	os_stat_release(&head);
	os_stat_release(&st);
	file_close(f);

	CHECK_INT(file_open(&ctx, "empty", NULL, false, &f), 0);
	CHECK_INT(flush_plain(f, NULL), 0);
	CHECK(object_is("empty", data, 0));
	file_close(f);
}

static void test_random_writes(void)
{
	size_t len = 3 * MiB + 512 * 1024, max = 5 * MiB, i;
	unsigned char *model = calloc(1, max), *buf = malloc(300 * 1024);
	struct fs_file *f;

	fill_random(model, len);
	put_object("rand", model, len);
	CHECK_INT(open_existing("rand", false, &f), 0);
	CHECK(!file_dirty(f));
	CHECK(file_is(f, model, len));
	for (i = 0; i < 200; i++) {
		size_t n = 1 + rnd() % (300 * 1024);
		size_t off = rnd() % (max - n);

		fill_random(buf, n);
		CHECK_INT(file_write(f, buf, n, (off_t)off), 0);
		memcpy(model + off, buf, n);	/* holes past the old end stay zero */
		if (off + n > len)
			len = off + n;
	}
	CHECK(file_dirty(f));
	CHECK(file_is(f, model, len));
	CHECK_INT(flush_plain(f, NULL), 0);
	CHECK(object_is("rand", model, len));
	CHECK(file_is(f, model, len));
	/* one write into the now clean file: read back mixes object and staging */
	CHECK_INT(file_write(f, "xyz", 3, 1000), 0);
	memcpy(model + 1000, "xyz", 3);
	CHECK(file_is(f, model, len));
	CHECK_INT(flush_plain(f, NULL), 0);
	CHECK(object_is("rand", model, len));
	file_close(f);
	free(buf);
	free(model);
	CHECK_INT(uploads_in_progress(), 0);
}

static void test_truncate(void)
{
	size_t len = 3 * MiB, max = 5 * MiB;
	unsigned char *data = malloc(len), *model = calloc(1, max);
	struct fs_file *f;

	fill_random(data, len);
	put_object("trunc", data, len);
	CHECK_INT(open_existing("trunc", false, &f), 0);
	CHECK_INT(file_truncate(f, 3 * MiB), 0);	/* same size: stays clean */
	CHECK(!file_dirty(f));
	/* shrink into the middle of a granule, grow again: no stale bytes */
	CHECK_INT(file_truncate(f, (off_t)(MiB + 100)), 0);
	CHECK(file_dirty(f));
	CHECK_INT(file_truncate(f, (off_t)(4 * MiB)), 0);
	memcpy(model, data, MiB + 100);
	CHECK(file_is(f, model, 4 * MiB));
	CHECK_INT(file_write(f, "hello", 5, (off_t)(2 * MiB)), 0);
	memcpy(model + 2 * MiB, "hello", 5);
	CHECK_INT(file_write(f, "x", 1, (off_t)(MiB + 50)), 0);
	model[MiB + 50] = 'x';
	CHECK(file_is(f, model, 4 * MiB));
	CHECK_INT(flush_plain(f, NULL), 0);
	CHECK(object_is("trunc", model, 4 * MiB));
	CHECK_INT(file_truncate(f, 10), 0);
	CHECK(file_is(f, model, 10));
	CHECK_INT(flush_plain(f, NULL), 0);
	CHECK(object_is("trunc", model, 10));
	CHECK_INT(file_truncate(f, 0), 0);
	CHECK_INT(flush_plain(f, NULL), 0);
	CHECK(object_is("trunc", model, 0));
	CHECK_INT(file_truncate(f, -1), EINVAL);
	file_close(f);

	/* O_TRUNC of an existing object */
	put_object("trunc", data, len);
	CHECK_INT(open_existing("trunc", true, &f), 0);
	CHECK(file_dirty(f));
	CHECK_INT(file_size(f), 0);
	CHECK_INT(file_write(f, "abc", 3, 0), 0);
	CHECK_INT(flush_plain(f, NULL), 0);
	CHECK(object_is("trunc", (const unsigned char *)"abc", 3));
	file_close(f);
	free(model);
	free(data);
}

static void test_append(void)
{
	size_t len = 12 * MiB + 3, add = 7 * MiB + 5;
	unsigned char *model = malloc(len + add);
	struct fs_file *f;
	struct os_stat st;

	fill_random(model, len + add);
	put_object("log", model, len);
	CHECK_INT(open_existing("log", false, &f), 0);
	CHECK_INT(file_write(f, model + len, 1000, (off_t)len), 0);
	CHECK_INT(file_write(f, model + len + 1000, add - 1000, (off_t)(len + 1000)), 0);
	CHECK(file_is(f, model, len + add));
	CHECK_INT(flush_plain(f, &st), 0);	/* multipart: 19 MiB in 5 MiB parts */
	CHECK(object_is("log", model, len + add));
	CHECK(strchr(st.etag, '-') != NULL);
	CHECK_INT(st.size, len + add);
	os_stat_release(&st);
	file_close(f);
	CHECK_INT(uploads_in_progress(), 0);
	free(model);
}

static void write_seq(struct fs_file *f, const unsigned char *data, size_t from, size_t to)
{
	size_t chunk = 128 * 1024;

	for (; from < to; from += chunk) {
		size_t n = to - from < chunk ? to - from : chunk;

		if (file_write(f, data + from, n, (off_t)from) != 0) {
			CHECK(!"sequential write failed");
			return;
		}
	}
}

static void test_streaming(void)
{
	size_t len = 17 * MiB;
	unsigned char *data = malloc(len);
	struct fs_file *f;
	struct os_stat st;

	fill_random(data, len);
	CHECK_INT(file_open(&ctx, "stream", NULL, false, &f), 0);
	write_seq(f, data, 0, 12 * MiB);
	/* two full parts were handed to the upload while writing */
	CHECK_INT(uploads_in_progress(), 1);
	CHECK_INT(os_head(store, "stream", &st), ENOENT);
	write_seq(f, data, 12 * MiB, len);
	CHECK(file_is(f, data, len));
	CHECK_INT(flush_plain(f, &st), 0);
	CHECK_INT(uploads_in_progress(), 0);
	CHECK(object_is("stream", data, len));
	os_stat_release(&st);
	memset(&st, 0, sizeof(st));
	CHECK_INT(os_head(store, "stream", &st), 0);
	CHECK_STR(os_meta_get(&st.meta, "mode"), "33188");	/* flush's metadata */
	os_stat_release(&st);
	file_close(f);

	/* a write elsewhere ends the streaming; the staging copy is uploaded */
	fill_random(data, len);
	CHECK_INT(open_existing("stream", true, &f), 0);
	write_seq(f, data, 0, 11 * MiB);
	CHECK_INT(uploads_in_progress(), 1);
	memset(data + MiB, 'r', 1000);
	CHECK_INT(file_write(f, data + MiB, 1000, (off_t)MiB), 0);
	CHECK_INT(uploads_in_progress(), 0);	/* aborted at once */
	write_seq(f, data, 11 * MiB, len);
	CHECK(file_is(f, data, len));
	CHECK_INT(flush_plain(f, NULL), 0);
	CHECK(object_is("stream", data, len));
	CHECK_INT(uploads_in_progress(), 0);
	file_close(f);

	/* closing without flush discards the streaming upload */
	CHECK_INT(file_open(&ctx, "stream-discard", NULL, false, &f), 0);
	write_seq(f, data, 0, 11 * MiB);
	CHECK_INT(uploads_in_progress(), 1);
	file_close(f);
	CHECK_INT(uploads_in_progress(), 0);
	CHECK_INT(os_head(store, "stream-discard", &st), ENOENT);
	free(data);
}

/* A store stack over the same directory whose op always fails. */
static struct objstore *faulty(const char *spec)
{
	struct objstore *s = NULL, *fs = NULL;
	char err[256];

	if (local_store_create(root, "bucket", &s, err, sizeof(err)) != 0 ||
	    fault_store_create(s, spec, &fs, err, sizeof(err)) != 0) {
		fprintf(stderr, "fault stack: %s\n", err);
		return NULL;
	}
	return fs;
}

static void flush_fails(const char *spec, size_t len, bool streamed)
{
	unsigned char *old = malloc(len), *data = malloc(len);
	struct objstore *bad = faulty(spec);
	struct fs_file *f;
	int err;

	if (!CHECK(bad != NULL))
		return;
	fill_random(old, len);
	fill_random(data, len);
	put_object("precious", old, len);
	CHECK_INT(open_existing("precious", true, &f), 0);
	ctx.store = bad;
	write_seq(f, data, 0, len);
	if (streamed)
		CHECK_INT(uploads_in_progress(), 1);
	err = flush_plain(f, NULL);
	CHECK_INT(err, EIO);	/* EIO, never EAGAIN, reaches close() */
	CHECK(file_dirty(f));
	CHECK(object_is("precious", old, len));
	CHECK_INT(uploads_in_progress(), 0);
	CHECK(file_is(f, data, len));
	CHECK(flush_plain(f, NULL) != 0);	/* still failing: still intact */
	CHECK(object_is("precious", old, len));
	CHECK_INT(uploads_in_progress(), 0);
	ctx.store = store;			/* faults gone: the retry publishes */
	CHECK_INT(flush_plain(f, NULL), 0);
	CHECK(!file_dirty(f));
	CHECK(object_is("precious", data, len));
	CHECK_INT(uploads_in_progress(), 0);
	file_close(f);
	os_destroy(bad);
	free(data);
	free(old);
}

static void test_flush_failure(void)
{
	/* kinds without "lost": a lost response after a completed upload
	 * cannot leave the old object in place, on S3 either */
	flush_fails("ops=mpu_complete,rate=1,kinds=5xx", 13 * MiB, true);
	flush_fails("ops=put,rate=1,kinds=eio+reset", 200 * 1024, false);
	flush_fails("ops=mpu_part,rate=1,kinds=eio", 11 * MiB, false);
}

static void test_stale_and_rename(void)
{
	unsigned char a[3 * MiB], b[3 * MiB], got[100];
	struct fs_file *f;
	size_t n;

	fill_random(a, sizeof(a));
	fill_random(b, sizeof(b));
	put_object("mv-src", a, sizeof(a));
	CHECK_INT(open_existing("mv-src", false, &f), 0);
	CHECK_INT(file_read(f, got, 100, 10, &n), 0);
	CHECK(n == 100 && memcmp(got, a + 10, 100) == 0);
	/* renamed by fs.c (copy + delete): reads follow the new key */
	CHECK_INT(os_copy(store, "mv-src", "mv-dst", NULL, NULL), 0);
	CHECK_INT(os_delete(store, "mv-src"), 0);
	CHECK_INT(file_rename(f, "mv-dst"), 0);
	CHECK_INT(file_read(f, got, 100, (off_t)(2 * MiB + 5), &n), 0);
	CHECK(n == 100 && memcmp(got, a + 2 * MiB + 5, 100) == 0);
	/* replaced behind our back: uncached data is ESTALE, never mixed */
	put_object("mv-dst", b, sizeof(b));
	CHECK_INT(file_read(f, got, 100, (off_t)(MiB + 7), &n), ESTALE);
	file_close(f);
	/* deleted behind our back: a write that needs the old bytes fails */
	CHECK_INT(open_existing("mv-dst", false, &f), 0);
	CHECK_INT(os_delete(store, "mv-dst"), 0);
	CHECK_INT(file_write(f, "Q", 1, 5), ESTALE);
	CHECK_INT(file_read(f, got, 1, 5, &n), ESTALE);
	file_close(f);
	put_object("mv-dst", b, sizeof(b));

	/* a dirty renamed file publishes under the new key */
	CHECK_INT(open_existing("mv-dst", false, &f), 0);
	CHECK_INT(file_write(f, "Z", 1, 0), 0);
	b[0] = 'Z';
	CHECK_INT(os_copy(store, "mv-dst", "mv-final", NULL, NULL), 0);
	CHECK_INT(os_delete(store, "mv-dst"), 0);
	CHECK_INT(file_rename(f, "mv-final"), 0);
	CHECK_INT(flush_plain(f, NULL), 0);
	CHECK(object_is("mv-final", b, sizeof(b)));
	file_close(f);
}

static void test_copy_parts(void)
{
	size_t len = 23 * MiB, i;
	unsigned char *model = malloc(len + 100), *other = malloc(len);
	struct objstore *bad = faulty("ops=get,rate=1,kinds=eio");
	struct rd *blind = NULL;
	struct rd_opts ro;
	struct fs_file *f;

	if (!CHECK(bad != NULL))
		return;
	memset(&ro, 0, sizeof(ro));
	CHECK_INT(rd_create(bad, NULL, &ro, &blind), 0);
	fill_random(model, len + 100);
	put_object("cp", model, len);
	/* rewrite part 3 and the tail whole: parts 1, 2, 4 are untouched, and
	 * the flush must not read them (the reader cannot read anything) */
	CHECK_INT(open_existing("cp", false, &f), 0);
	fill_random(model + 10 * MiB, 5 * MiB);
	fill_random(model + 20 * MiB, 3 * MiB + 100);
	ctx.reader = blind;
	for (i = 10 * MiB; i < 15 * MiB; i += MiB)
		CHECK_INT(file_write(f, model + i, MiB, (off_t)i), 0);
	CHECK_INT(file_write(f, model + 20 * MiB, 3 * MiB + 100, (off_t)(20 * MiB)), 0);
	CHECK_INT(flush_plain(f, NULL), 0);
	ctx.reader = reader;
	CHECK(object_is("cp", model, len + 100));
	CHECK_INT(uploads_in_progress(), 0);
	file_close(f);

	/* replaced by another client before the flush: ESTALE, theirs stays */
	CHECK_INT(open_existing("cp", false, &f), 0);
	CHECK_INT(file_write(f, "x", 1, 3), 0);
	fill_random(other, len);
	put_object("cp", other, len);
	CHECK_INT(flush_plain(f, NULL), ESTALE);
	CHECK(object_is("cp", other, len));
	CHECK_INT(uploads_in_progress(), 0);
	file_close(f);
	rd_destroy(blind);
	os_destroy(bad);
	free(other);
	free(model);
}

struct reader_arg {
	struct fs_file *f;
	int errors;
	int reads;
};

static volatile int writer_done;

static void *reader_main(void *p)
{
	struct reader_arg *a = p;
	unsigned char buf[65536], exp[65536];
	uint32_t r = (uint32_t)(uintptr_t)p;

	while (!writer_done && a->reads < 100000) {
		uint64_t size = file_size(a->f), off;
		size_t n;

		r = r * 1103515245 + 12345;
		off = size ? (r >> 4) % size : 0;
		if (file_read(a->f, buf, sizeof(buf), (off_t)off, &n) != 0) {
			a->errors++;
			continue;
		}
		fill_pattern(exp, off, n, 1);
		if (memcmp(buf, exp, n) != 0)
			a->errors++;
		a->reads++;
	}
	return NULL;
}

static void test_concurrent(void)
{
	size_t len = 16 * MiB, i;
	unsigned char *data = malloc(len);
	struct reader_arg args[4];
	pthread_t th[4];
	struct fs_file *f;

	fill_pattern(data, 0, len, 1);
	CHECK_INT(file_open(&ctx, "busy", NULL, false, &f), 0);
	writer_done = 0;
	for (i = 0; i < 4; i++) {
		args[i] = (struct reader_arg){ f, 0, 0 };
		pthread_create(&th[i], NULL, reader_main, &args[i]);
	}
	write_seq(f, data, 0, 7 * MiB);
	CHECK_INT(flush_plain(f, NULL), 0);	/* readers switch to the object */
	write_seq(f, data, 7 * MiB, len);	/* appends: object + staging */
	CHECK_INT(flush_plain(f, NULL), 0);
	writer_done = 1;
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(args[i].errors, 0);
		CHECK(args[i].reads > 0);
	}
	CHECK(object_is("busy", data, len));
	file_close(f);
	free(data);
}

static void test_budget(void)
{
	struct fs_file *a, *b;
	unsigned char *data = malloc(11 * MiB);

	/* room for one streaming upload only: the second file falls back */
	fill_random(data, 11 * MiB);
	ctx.upload_mem = (uint64_t)PART * 4;	/* (3 parallel + 1) parts */
	CHECK_INT(file_open(&ctx, "budget-a", NULL, false, &a), 0);
	CHECK_INT(file_open(&ctx, "budget-b", NULL, false, &b), 0);
	write_seq(a, data, 0, 11 * MiB);
	write_seq(b, data, 0, 11 * MiB);
	CHECK_INT(uploads_in_progress(), 1);
	CHECK_INT(flush_plain(b, NULL), 0);	/* never waits for a's budget */
	CHECK_INT(flush_plain(a, NULL), 0);
	CHECK(object_is("budget-a", data, 11 * MiB));
	CHECK(object_is("budget-b", data, 11 * MiB));
	file_close(a);
	file_close(b);
	ctx.upload_mem = 0;
	free(data);
}

static int staging_is_empty(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s)\"", staging);
	return system(cmd) == 0;
}

int main(void)
{
	struct rd_opts ro;
	char err[256], path[128];

	setenv("LITHFS_LOCAL_FSYNC", "0", 0);	/* durability is not tested here */
	if (!mkdtemp(root))
		return 99;
	snprintf(path, sizeof(path), "%s/bucket", root);
	snprintf(staging, sizeof(staging), "%s/staging", root);
	if (mkdir(path, 0700) != 0 || mkdir(staging, 0700) != 0)
		return 99;
	if (local_store_create(root, "bucket", &store, err, sizeof(err)) != 0) {
		fprintf(stderr, "local store: %s\n", err);
		return 99;
	}
	memset(&ro, 0, sizeof(ro));
	if (rd_create(store, NULL, &ro, &reader) != 0)
		return 99;
	ctx = (struct file_ctx){ store, reader, staging, PART, 3, 0 };

	test_new_small();
	test_random_writes();
	test_truncate();
	test_append();
	test_streaming();
	test_flush_failure();
	test_stale_and_rename();
	test_copy_parts();
	test_concurrent();
	test_budget();
	CHECK(staging_is_empty());	/* staging files are unlinked at once */

	rd_destroy(reader);
	os_destroy(store);
	snprintf(path, sizeof(path), "rm -rf %s", root);
	if (system(path) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return check_exit();
}
