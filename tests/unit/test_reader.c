/*
 * test_reader.c - unit tests of the read-through reader (src/cache/reader.c)
 * over the local-directory store.
 *
 * The reader reads through a counting wrapper (struct cstore, built on
 * objstore_impl.h like the real wrappers) that counts GETs and can slow them
 * down so that concurrent readers really overlap. Expected bytes come from
 * pread() of the source file each object was uploaded from.
 *
 * `test_reader --bench SOURCE KEY [CACHE_DIR]` is a measuring tool for
 * tests/integ/cache-*.sh: it reads object KEY of SOURCE (e.g. an S3 bucket,
 * endpoint from S3_ENDPOINT) sequentially in 128 KiB reads like FUSE does,
 * and prints one line: bytes, seconds, MB/s, GETs, peak RSS (KiB) and the
 * SHA-256 of what it read. Env LITHFS_BENCH_THREADS sets the fetch threads.
 * With env LITHFS_BENCH_RANDOM=N it then opens a fresh reader on the same
 * cache (as a remount does) and does N random aligned 4 KiB reads from 4
 * threads (like fio randread numjobs=4), printing a second line: reads,
 * seconds, reads/s and GETs. With a cache, those reads are warm hits.
 */
#include "config.h"
#include "cache/bcache.h"
#include "cache/reader.h"
#include "objstore/objstore_impl.h"
#include "objstore/source.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define BS (256u << 10)

static char root[4096];

/* --- counting wrapper --- */

struct cstore {
	struct objstore base;
	int gets;		/* atomic */
	int delay_ms;		/* atomic, like the next two: set by the test */
	int fail;		/* GETs fail with this errno while set */
	uint64_t below;		/* low_gets counts GETs starting below this */
	int low_gets;		/* atomic */
};

static int c_get(struct objstore *s, const char *key, uint64_t off, uint64_t len,
		 const char *etag, os_sink_fn sink, void *arg)
{
	struct cstore *cs = (struct cstore *)s;

	__atomic_add_fetch(&cs->gets, 1, __ATOMIC_SEQ_CST);
	int delay_ms = __atomic_load_n(&cs->delay_ms, __ATOMIC_SEQ_CST);
	int fail = __atomic_load_n(&cs->fail, __ATOMIC_SEQ_CST);

	if (off < __atomic_load_n(&cs->below, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&cs->low_gets, 1, __ATOMIC_SEQ_CST);
	if (delay_ms) {
		struct timespec ts = { 0, delay_ms * 1000000L };

		nanosleep(&ts, NULL);
	}
	if (fail)
		return fail;
	return os_get(s->inner, key, off, len, etag, sink, arg);
}

static void c_destroy(struct objstore *s)
{
	os_destroy(s->inner);
	free(s);
}

static const struct objstore_ops cstore_ops = {
	.name = "count", .get = c_get, .destroy = c_destroy,
};

static int gets(struct cstore *cs)
{
	return __atomic_load_n(&cs->gets, __ATOMIC_SEQ_CST);
}

/* --- fixtures --- */

static struct cstore *cs;
static struct objstore *inner;

static void store_open(void)
{
	char path[4200], err[256] = "";
	struct objstore *s = NULL;

	snprintf(path, sizeof(path), "%s/store", root);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/store/bucket", root);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/store", root);
	if (local_store_create(path, "bucket", &s, err, sizeof(err))) {
		fprintf(stderr, "local_store_create: %s\n", err);
		exit(1);
	}
	cs = calloc(1, sizeof(*cs));
	cs->base.ops = &cstore_ops;
	cs->base.id = s->id;		/* borrowed: same cache namespace */
	cs->base.inner = s;
	inner = s;
}

/* Writes size pseudo-random bytes to a source file, uploads it as key. */
static char *make_object(const char *key, size_t size, unsigned seed, char etag[OS_ETAG_MAX],
			 int *src_fd)
{
	char *data = malloc(size ? size : 1), path[4200];
	uint64_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		data[i] = (char)x;
	}
	snprintf(path, sizeof(path), "%s/src-%s", root, key);
	*src_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (*src_fd < 0 || write(*src_fd, data, size) != (ssize_t)size)
		abort();
	CHECK_INT(os_put(inner, key, data, size, NULL, etag), 0);
	return data;
}

static struct rd *make_rd(struct bcache *cache, uint64_t mem_limit)
{
	struct rd_opts o = { .block_size = BS, .max_window = 16 * BS, .threads = 4,
			     .mem_limit = mem_limit };
	struct rd *r = NULL;

	CHECK_INT(rd_create(&cs->base, cache, &o, &r), 0);
	return r;
}

/* Reads [off, off+len) via f and compares with pread of the source. */
static int read_equal(struct rd_file *f, int src, uint64_t off, size_t len, uint64_t size)
{
	char *a = malloc(len + 1), *b = malloc(len + 1);
	size_t got = 0, want = off >= size ? 0 : (size - off < len ? size - off : len);
	int rc = rd_read(f, a, off, len, &got);
	int ok = rc == 0 && got == want && pread(src, b, len, (off_t)off) == (ssize_t)want &&
		 memcmp(a, b, want) == 0;

	if (!ok)
		fprintf(stderr, "read [%llu,+%zu): rc %d got %zu want %zu\n",
			(unsigned long long)off, len, rc, got, want);
	free(a);
	free(b);
	return ok;
}

/* --- tests --- */

static void test_random(void)
{
	char etag[OS_ETAG_MAX];
	uint64_t size = 10 * BS + 12345;
	int src, ok = 1;
	char *data = make_object("random", size, 1, etag, &src);
	struct rd *r = make_rd(NULL, 8 * BS);
	struct rd_file *f = NULL;
	unsigned seed = 42;

	CHECK_INT(rd_open(r, "random", etag, size, &f), 0);
	for (int i = 0; i < 400; i++) {
		uint64_t off = (uint64_t)rand_r(&seed) % (size + 100);
		size_t len = (size_t)rand_r(&seed) % (3 * BS) + 1;

		ok &= read_equal(f, src, off, len, size);
	}
	CHECK(ok);
	CHECK(read_equal(f, src, size - 10, 100, size));	/* short at the end */
	CHECK(read_equal(f, src, size, 100, size));	/* at the end: 0 bytes */
	rd_close(f);

	/* one random read in a fresh engine fetches just its block */
	struct rd *r2 = make_rd(NULL, 8 * BS);
	int before = gets(cs);

	CHECK_INT(rd_open(r2, "random", etag, size, &f), 0);
	CHECK(read_equal(f, src, 5 * BS + 100, 1000, size));
	CHECK_INT(gets(cs) - before, 1);
	/* a stream in block 5, then one from offset 0: the second one prefetches
	 * too (from 0, not from where the first one left off), so blocks 0-4
	 * take at most 4 GETs, not one each */
	int ok2 = 1;

	for (uint64_t off = 5 * BS; off < 6 * BS; off += 64 << 10)
		ok2 &= read_equal(f, src, off, 64 << 10, size);
	__atomic_store_n(&cs->below, 5 * BS, __ATOMIC_SEQ_CST);
	for (uint64_t off = 0; off < 5 * BS; off += 64 << 10)
		ok2 &= read_equal(f, src, off, 64 << 10, size);
	CHECK(ok2);
	int n0 = __atomic_load_n(&cs->low_gets, __ATOMIC_SEQ_CST);

	__atomic_store_n(&cs->below, 0, __ATOMIC_SEQ_CST);
	if (!CHECK(n0 <= 4))
		fprintf(stderr, "blocks 0-4 took %d GETs\n", n0);
	rd_close(f);
	rd_destroy(r2);
	rd_destroy(r);
	close(src);
	free(data);
}

static void test_sequential(void)
{
	char etag[OS_ETAG_MAX];
	uint64_t size = 50ULL << 20;
	int src, ok = 1;
	char *data = make_object("seq50", size, 2, etag, &src);
	struct rd *r = make_rd(NULL, 16 * BS);
	struct rd_file *f = NULL;
	int before = gets(cs);
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(rd_open(r, "seq50", etag, size, &f), 0);
	for (uint64_t off = 0; off < size; off += 128 << 10)
		ok &= read_equal(f, src, off, 128 << 10, size);
	CHECK(ok);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* whole object, each block fetched once, mostly 4 blocks per GET */
	int n = gets(cs) - before;

	CHECK(n > 0 && n <= (int)(size / BS) / 4 + 12);
	fprintf(stderr, "sequential 50 MiB: %d GETs, %.0f ms\n", n,
		(t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	rd_close(f);
	rd_destroy(r);
	close(src);
	free(data);
}

struct reader_arg {
	struct rd *r;
	const char *etag;
	uint64_t size;
	int src;
	pthread_barrier_t *bar;
	int ok;
};

static void *reader_main(void *arg)
{
	struct reader_arg *a = arg;
	struct rd_file *f = NULL;

	a->ok = rd_open(a->r, "shared", a->etag, a->size, &f) == 0;
	pthread_barrier_wait(a->bar);
	if (a->ok)
		a->ok = read_equal(f, a->src, 3 * BS + 77, 5000, a->size);
	rd_close(f);
	return NULL;
}

/* Eight threads read one block at once: one GET. */
static void test_concurrent(void)
{
	char etag[OS_ETAG_MAX];
	uint64_t size = 8 * BS;
	int src;
	char *data = make_object("shared", size, 3, etag, &src);
	struct rd *r = make_rd(NULL, 16 * BS);
	struct reader_arg a[8];
	pthread_t t[8];
	pthread_barrier_t bar;
	int before = gets(cs);

	pthread_barrier_init(&bar, NULL, 8);
	__atomic_store_n(&cs->delay_ms, 100, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 8; i++) {
		a[i] = (struct reader_arg){ r, etag, size, src, &bar, 0 };
		pthread_create(&t[i], NULL, reader_main, &a[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CHECK(a[i].ok);
	}
	__atomic_store_n(&cs->delay_ms, 0, __ATOMIC_SEQ_CST);
	CHECK_INT(gets(cs) - before, 1);
	pthread_barrier_destroy(&bar);
	rd_destroy(r);
	close(src);
	free(data);
}

/* The object changes under an open file: ESTALE, not old or mixed bytes. */
static void test_estale(void)
{
	char etag[OS_ETAG_MAX], etag2[OS_ETAG_MAX];
	uint64_t size = 4 * BS;
	int src, src2;
	char *data = make_object("changing", size, 4, etag, &src);
	struct rd *r = make_rd(NULL, 16 * BS);
	struct rd_file *f = NULL;
	char buf[100];
	size_t got = 1;

	CHECK_INT(rd_open(r, "changing", etag, size, &f), 0);
	CHECK(read_equal(f, src, 3 * BS, 100, size));
	free(make_object("changing", size, 5, etag2, &src2));
	CHECK(strcmp(etag, etag2) != 0);
	CHECK_INT(rd_read(f, buf, BS, sizeof(buf), &got), ESTALE);
	CHECK_INT(got, 0);
	/* a failed block is not kept: the same error again, no hang */
	CHECK_INT(rd_read(f, buf, BS, sizeof(buf), &got), ESTALE);
	rd_close(f);
	CHECK_INT(rd_open(r, "changing", etag2, size, &f), 0);
	CHECK(read_equal(f, src2, BS, 100, size));
	rd_close(f);
	rd_destroy(r);
	close(src);
	close(src2);
	free(data);
}

/* A failed GET fails the read, is not remembered, and does not hang. A
 * random read is not stuck behind another file's prefetch window. */
static void test_errors_latency(void)
{
	char etag[OS_ETAG_MAX], buf[100];
	uint64_t size = 64 * BS;
	int src;
	char *data = make_object("errs", size, 10, etag, &src);
	struct rd *r = make_rd(NULL, 64 * BS);
	struct rd_file *f = NULL, *g = NULL;
	struct timespec t0, t1;
	size_t got = 1;

	CHECK_INT(rd_open(r, "errs", etag, size, &f), 0);
	__atomic_store_n(&cs->fail, EIO, __ATOMIC_SEQ_CST);
	CHECK_INT(rd_read(f, buf, 10 * BS, sizeof(buf), &got), EIO);
	CHECK_INT(rd_read(f, buf, 10 * BS, sizeof(buf), &got), EIO);
	__atomic_store_n(&cs->fail, 0, __ATOMIC_SEQ_CST);
	CHECK(read_equal(f, src, 10 * BS, sizeof(buf), size));

	/* f's reads in its first block open a prefetch window of several GETs
	 * (1 s each); g's random read right after takes one GET, not two (the
	 * 800 ms of slack are for a loaded host under a sanitizer) */
	__atomic_store_n(&cs->delay_ms, 1000, __ATOMIC_SEQ_CST);
	CHECK_INT(rd_open(r, "errs", etag, size, &g), 0);
	for (uint64_t off = 0; off < BS; off += 32 << 10)
		CHECK(read_equal(f, src, off, 32 << 10, size));
	usleep(30000);			/* the workers pick up the prefetch jobs */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(read_equal(g, src, 50 * BS + 5, 1000, size));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;

	if (!CHECK(ms < 1800))
		fprintf(stderr, "random read behind prefetch took %.0f ms\n", ms);
	__atomic_store_n(&cs->delay_ms, 0, __ATOMIC_SEQ_CST);
	rd_close(g);
	rd_close(f);
	rd_destroy(r);
	close(src);
	free(data);
}

/* A second engine over the same cache reads without a single GET; a small
 * mem_limit still reads correctly. */
static void test_cache_reuse(void)
{
	char etag[OS_ETAG_MAX], dir[4200], err[256];
	uint64_t size = 20 * BS + 999;
	int src, ok = 1;
	char *data = make_object("cached", size, 6, etag, &src);
	struct bcache *c = NULL;
	struct rd_file *f = NULL;
	struct bc_stats st;

	snprintf(dir, sizeof(dir), "%s/cache", root);
	CHECK_INT(bc_open(dir, 64 << 20, &c, err, sizeof(err)), 0);
	struct rd *r = make_rd(c, 4 * BS);
	int before = gets(cs);

	CHECK_INT(rd_open(r, "cached", etag, size, &f), 0);
	for (uint64_t off = 0; off < size; off += 64 << 10)
		ok &= read_equal(f, src, off, 64 << 10, size);
	rd_close(f);
	rd_destroy(r);
	/* memory for 4 blocks, window 16: every block still fetched once */
	CHECK(gets(cs) > before && gets(cs) - before <= 21);
	bc_get_stats(c, &st);
	CHECK_INT(st.blocks, 21);
	CHECK_INT(st.bytes, size);

	r = make_rd(c, 4 * BS);
	before = gets(cs);
	CHECK_INT(rd_open(r, "cached", etag, size, &f), 0);
	for (uint64_t off = 0; off < size; off += 64 << 10)
		ok &= read_equal(f, src, off, 64 << 10, size);
	unsigned seed = 7;

	for (int i = 0; i < 50; i++)
		ok &= read_equal(f, src, (uint64_t)rand_r(&seed) % size, 70000, size);
	CHECK(ok);
	CHECK_INT(gets(cs) - before, 0);
	rd_close(f);
	rd_destroy(r);
	bc_get_stats(c, &st);
	CHECK(st.hits >= 21);
	/* random 4 KiB reads (one at the short last block) copy just 4 KiB out
	 * of the cache: bytes_hit grows by the bytes read, not by blocks */
	r = make_rd(c, 4 * BS);
	before = gets(cs);
	CHECK_INT(rd_open(r, "cached", etag, size, &f), 0);
	ok &= read_equal(f, src, 20 * BS + 500, 4096, size);
	for (int i = 0; i < 40; i++)		/* blocks 7 apart: never "sequential" */
		ok &= read_equal(f, src, (uint64_t)(i * 7 % 20) * BS + 4096 * (1 + i % 50), 4096,
				 size);
	CHECK(ok);
	CHECK_INT(gets(cs) - before, 0);
	rd_close(f);
	rd_destroy(r);
	uint64_t bytes_hit = st.bytes_hit;

	bc_get_stats(c, &st);
	CHECK_INT(st.bytes_hit - bytes_hit, 499 + 40 * 4096);
	/* without an ETag there is no identity: read, but never cached */
	r = make_rd(c, 4 * BS);
	before = gets(cs);
	CHECK_INT(rd_open(r, "cached", "", size, &f), 0);
	CHECK(read_equal(f, src, BS, 1000, size));
	CHECK_INT(gets(cs) - before, 1);
	rd_close(f);
	rd_destroy(r);
	uint64_t hits = st.hits;

	bc_get_stats(c, &st);
	CHECK_INT(st.hits, hits);
	CHECK_INT(st.blocks, 21);
	bc_close(c);
	close(src);
	free(data);
}

/* Waits (up to 10 s) until the cache holds want blocks; returns how many it
 * holds. */
static uint64_t wait_blocks(struct bcache *c, uint64_t want)
{
	struct bc_stats st = { 0 };

	for (int i = 0; i < 1000; i++) {
		bc_get_stats(c, &st);
		if (st.blocks >= want)
			break;
		usleep(10000);
	}
	return st.blocks;
}

/* A file read at random (4 reads) has its whole object warmed into the
 * cache in the background while it is open: each block is fetched once, the
 * reads stay right, and a later fresh reader needs no GET. An object over a
 * quarter of the cache is not warmed. */
static void test_warm(void)
{
	char etag[OS_ETAG_MAX], dir[4200], err[256];
	uint64_t size = 40 * BS + 777;		/* 41 blocks */
	int src, ok = 1;
	char *data = make_object("warm", size, 8, etag, &src);
	struct bcache *c = NULL;
	struct rd_file *f = NULL;
	unsigned seed = 9;

	snprintf(dir, sizeof(dir), "%s/cache-warm", root);
	CHECK_INT(bc_open(dir, 64 << 20, &c, err, sizeof(err)), 0);
	struct rd *r = make_rd(c, 6 * BS);
	int before = gets(cs);

	CHECK_INT(rd_open(r, "warm", etag, size, &f), 0);
	for (int i = 0; i < 4; i++)		/* blocks 9 apart: random */
		ok &= read_equal(f, src, (uint64_t)(i * 9 + 3) * BS + 100, 4096, size);
	CHECK_INT(wait_blocks(c, 41), 41);
	for (int i = 0; i < 200; i++)
		ok &= read_equal(f, src, (uint64_t)rand_r(&seed) % size, 4096, size);
	CHECK(ok);
	int n = gets(cs) - before;

	if (!CHECK(n >= 11 && n <= 41 + 4))	/* runs of <= 4 blocks, once each */
		fprintf(stderr, "warming took %d GETs\n", n);
	rd_close(f);
	rd_destroy(r);
	r = make_rd(c, 6 * BS);
	before = gets(cs);
	CHECK_INT(rd_open(r, "warm", etag, size, &f), 0);
	for (int i = 0; i < 8; i++)		/* warming a cached object: no GET */
		ok &= read_equal(f, src, (uint64_t)rand_r(&seed) % size, 4096, size);
	usleep(200000);
	CHECK(ok);
	CHECK_INT(gets(cs) - before, 0);
	rd_close(f);
	rd_destroy(r);
	bc_close(c);

	/* a cache of 32 blocks: 41 blocks are too many to warm */
	snprintf(dir, sizeof(dir), "%s/cache-small", root);
	CHECK_INT(bc_open(dir, 32 * BS, &c, err, sizeof(err)), 0);
	r = make_rd(c, 6 * BS);
	CHECK_INT(rd_open(r, "warm", etag, size, &f), 0);
	for (int i = 0; i < 6; i++)
		ok &= read_equal(f, src, (uint64_t)(i * 6 + 1) * BS, 4096, size);
	CHECK(ok);
	CHECK_INT(wait_blocks(c, 6), 6);	/* the 6 blocks read are stored... */
	usleep(300000);
	CHECK_INT(wait_blocks(c, 0), 6);	/* ...and nothing is warmed */
	/* closing while warming (the big cache again) stops it cleanly */
	rd_close(f);
	rd_destroy(r);
	bc_close(c);
	snprintf(dir, sizeof(dir), "%s/cache-close", root);
	CHECK_INT(bc_open(dir, 64 << 20, &c, err, sizeof(err)), 0);
	r = make_rd(c, 6 * BS);
	__atomic_store_n(&cs->delay_ms, 20, __ATOMIC_SEQ_CST);
	CHECK_INT(rd_open(r, "warm", etag, size, &f), 0);
	for (int i = 0; i < 4; i++)
		ok &= read_equal(f, src, (uint64_t)(i * 9 + 2) * BS, 4096, size);
	CHECK(ok);
	rd_close(f);
	rd_destroy(r);
	__atomic_store_n(&cs->delay_ms, 0, __ATOMIC_SEQ_CST);
	CHECK(wait_blocks(c, 0) < 41);
	bc_close(c);
	close(src);
	free(data);
}

/* Closing a file while its prefetch is in flight, then destroying. */
static void test_close_early(void)
{
	char etag[OS_ETAG_MAX];
	uint64_t size = 32 * BS;
	int src;
	char *data = make_object("early", size, 8, etag, &src);
	struct rd *r = make_rd(NULL, 16 * BS);
	struct rd_file *f = NULL;

	__atomic_store_n(&cs->delay_ms, 20, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 3; i++) {
		CHECK_INT(rd_open(r, "early", etag, size, &f), 0);
		for (int k = 0; k < 4; k++)
			CHECK(read_equal(f, src, (uint64_t)k * (128 << 10), 128 << 10, size));
		rd_close(f);
	}
	rd_destroy(r);
	__atomic_store_n(&cs->delay_ms, 0, __ATOMIC_SEQ_CST);
	/* an empty object reads as 0 bytes without a GET */
	char etag0[OS_ETAG_MAX];
	int src0;
	char *d0 = make_object("empty", 0, 9, etag0, &src0);
	char b[10];
	size_t got = 5;
	int before = gets(cs);

	r = make_rd(NULL, 16 * BS);
	CHECK_INT(rd_open(r, "empty", etag0, 0, &f), 0);
	CHECK_INT(rd_read(f, b, 0, sizeof(b), &got), 0);
	CHECK_INT(got, 0);
	CHECK_INT(gets(cs) - before, 0);
	rd_close(f);
	rd_destroy(r);
	close(src0);
	free(d0);
	close(src);
	free(data);
}

/* --- bench mode --- */

static long peak_rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of this process so far. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Opens SOURCE (endpoint from S3_ENDPOINT) behind the counting wrapper. */
static struct objstore *bench_store(const char *source)
{
	struct os_config cfg = { .endpoint = getenv("S3_ENDPOINT") };
	struct objstore *s = NULL;
	struct os_source src;
	char err[512];
	int rc = os_source_parse(source, &src, err, sizeof(err));

	if (!rc) {
		rc = os_open(&src, &cfg, &s, err, sizeof(err));
		os_source_release(&src);
	}
	if (rc) {
		fprintf(stderr, "test_reader: %s\n", err);
		return NULL;
	}
	cs = calloc(1, sizeof(*cs));
	cs->base.ops = &cstore_ops;
	cs->base.id = s->id;
	cs->base.inner = s;
	return s;
}

struct rnd_job {
	struct rd *r;
	const char *key;
	const struct os_stat *st;
	long n;
	unsigned seed;
	int rc;
};

static void *rnd_main(void *arg)
{
	struct rnd_job *j = arg;
	struct rd_file *f;
	char buf[4096];
	uint64_t pages = j->st->size / sizeof(buf);
	size_t got;

	j->rc = rd_open(j->r, j->key, j->st->etag, j->st->size, &f);
	for (long i = 0; i < j->n && !j->rc && pages; i++) {
		j->seed = j->seed * 1103515245u + 12345u;
		uint64_t pg = (((uint64_t)j->seed << 16) ^ (uint64_t)rand_r(&j->seed)) % pages;

		j->rc = rd_read(f, buf, pg * sizeof(buf), sizeof(buf), &got);
	}
	if (!j->rc)
		rd_close(f);
	return NULL;
}

/* N random 4 KiB reads by 4 threads through a fresh reader on cache c. */
static int bench_random(const char *key, struct bcache *c, const struct os_stat *st,
			long n)
{
	struct rnd_job jobs[4];
	pthread_t th[4];
	struct rd *r;
	int g0 = gets(cs), rc;

	rc = rd_create(&cs->base, c, NULL, &r);
	if (rc)
		return rc;
	double t0 = mono_s(), cpu0 = cpu_s();

	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct rnd_job){ r, key, st, n / 4, 7u * (unsigned)i + 1, 0 };
		pthread_create(&th[i], NULL, rnd_main, &jobs[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		rc = rc ? rc : jobs[i].rc;
	}
	double t = mono_s() - t0, cpu = cpu_s() - cpu0;

	printf("random_reads %ld seconds %.3f reads_per_s %.0f cpu_us_per_read %.1f gets %d\n",
	       n / 4 * 4, t, (double)(n / 4 * 4) / t, cpu * 1e6 / (double)(n / 4 * 4),
	       gets(cs) - g0);
	rd_destroy(r);
	return rc;
}

static int bench(const char *source, const char *key, const char *cache_dir)
{
	struct rd_opts o = { 0 };
	struct objstore *s = bench_store(source);
	struct bcache *c = NULL;
	struct os_stat st;
	struct rd *r = NULL;
	struct rd_file *f = NULL;
	char err[512], *buf = malloc(128 << 10);
	unsigned char md[32];
	uint64_t off = 0;
	size_t got = 0;
	int rc;

	if (!s)
		return 1;
	if (getenv("LITHFS_BENCH_THREADS"))
		o.threads = atoi(getenv("LITHFS_BENCH_THREADS"));
	if (cache_dir && bc_open(cache_dir, 0, &c, err, sizeof(err))) {
		fprintf(stderr, "test_reader: %s\n", err);
		return 1;
	}
	rc = os_head(s, key, &st);
	if (!rc)
		rc = rd_create(&cs->base, c, &o, &r);
	if (!rc)
		rc = rd_open(r, key, st.etag, st.size, &f);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	double t0 = mono_s();

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while (!rc && off < st.size) {
		rc = rd_read(f, buf, off, 128 << 10, &got);
		EVP_DigestUpdate(ctx, buf, got);
		off += got;
	}
	double t = mono_s() - t0;

	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	if (rc) {
		fprintf(stderr, "test_reader: reading %s at %llu: %s\n", key,
			(unsigned long long)off, strerror(rc));
		return 1;
	}
	printf("bytes %llu seconds %.3f MBps %.1f gets %d rss_kib %ld sha256 ",
	       (unsigned long long)off, t, (double)off / t / 1e6, gets(cs), peak_rss_kib());
	for (int i = 0; i < 32; i++)
		printf("%02x", md[i]);
	printf("\n");
	rd_close(f);
	rd_destroy(r);
	if (getenv("LITHFS_BENCH_RANDOM")) {
		rc = bench_random(key, c, &st, atol(getenv("LITHFS_BENCH_RANDOM")));
		if (rc) {
			fprintf(stderr, "test_reader: random reads: %s\n", strerror(rc));
			return 1;
		}
	}
	bc_close(c);
	os_stat_release(&st);
	os_destroy(&cs->base);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	char cmd[4200];

	if (argc >= 4 && !strcmp(argv[1], "--bench"))
		return bench(argv[2], argv[3], argc > 4 ? argv[4] : NULL);

	snprintf(root, sizeof(root), "%s/test_reader.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	setenv("LITHFS_LOCAL_FSYNC", "0", 1);
	store_open();
	test_random();
	test_sequential();
	test_concurrent();
	test_estale();
	test_errors_latency();
	test_cache_reuse();
	test_warm();
	test_close_early();
	os_destroy(&cs->base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	return check_exit();
}
