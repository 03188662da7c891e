/*
 * test_upload_sched.c - the growing part schedule of os_upload and uploads
 * that read their parts from a file.
 *
 * The schedule (os_upload_part_len/_off/_count) is checked at the real
 * group (OS_UPLOAD_GROUP) for the default and the smallest part size: parts
 * never shrink, stay within S3's limits (5 MiB..5 GiB, 10,000 parts), the
 * first 1000 parts are part_size, and 10,000 parts hold more than 1 TiB.
 * Then uploads run against a spy store (in memory, no network) with
 * LITHFS_TEST_PART_GROUP=4 so that a 150 MiB stream crosses several size
 * steps: every part has its scheduled size and offset and the right bytes,
 * from memory and from a file (os_upload_create_fd), parts marked dirty are
 * sent again, and os_upload_done follows the uploaded parts. Last, sparse
 * files of 1 TiB and 4.88 TiB go through the real schedule (the spy does not
 * read them): 6040 parts, and exactly 10,000 parts then EFBIG.
 */
#include "config.h"
#include "objstore/objstore_impl.h"
#include "objstore/upload.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "util/log.h"

#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)
#define TIB ((uint64_t)1 << 40)
#define SMALL (5 * MIB)
#define GROUP 4

/* Checks the schedule for part_size at the real group; returns capacity. */
static uint64_t check_schedule(size_t part_size)
{
	const int g = OS_UPLOAD_GROUP;
	uint64_t off = 0, prev = 0, cap;
	int n, bad_order = 0, bad_size = 0, bad_off = 0, bad_count = 0;

	for (n = 1; n <= OS_UPLOAD_PARTS_MAX; n++) {
		uint64_t len = os_upload_part_len(part_size, g, n);

		bad_order += len < prev;
		bad_size += len < SMALL || len > OS_UPLOAD_PART_MAX ||
			    (n <= OS_UPLOAD_GROUP && len != part_size);
		bad_off += os_upload_part_off(part_size, g, n) != off;
		bad_count += os_upload_part_count(part_size, g, off + 1) != n ||
			     os_upload_part_count(part_size, g, off + len) != n;
		off += len;
		prev = len;
	}
	cap = off;
	CHECK_INT(bad_order, 0);
	CHECK_INT(bad_size, 0);
	CHECK_INT(bad_off, 0);
	CHECK_INT(bad_count, 0);
	CHECK_INT(os_upload_part_count(part_size, g, 0), 0);
	CHECK_INT(os_upload_part_count(part_size, g, cap), OS_UPLOAD_PARTS_MAX);
	CHECK(os_upload_part_count(part_size, g, cap + 1) > OS_UPLOAD_PARTS_MAX);
	CHECK(os_upload_part_count(part_size, g, UINT64_MAX) > OS_UPLOAD_PARTS_MAX);
	CHECK(cap > TIB);
	fprintf(stderr, "part_size %zu MiB: parts 1-1000 %zu MiB, part 5000 %llu MiB, "
		"part 10000 %llu MiB; 1 TiB needs %d parts; 10,000 parts hold %.2f TiB\n",
		part_size >> 20, part_size >> 20,
		(unsigned long long)(os_upload_part_len(part_size, g, 5000) >> 20),
		(unsigned long long)(os_upload_part_len(part_size, g, 10000) >> 20),
		os_upload_part_count(part_size, g, TIB), (double)cap / (double)TIB);
	return cap;
}

static void test_schedule(void)
{
	CHECK(check_schedule(16 << 20) >= 5 * TIB);
	CHECK(check_schedule(SMALL) > 4 * TIB);
	check_schedule(100 << 20);
	/* a part size above 5 GiB / 2 reaches the cap at the first step */
	CHECK_INT(os_upload_part_len(3 * GIB, OS_UPLOAD_GROUP, 1001), OS_UPLOAD_PART_MAX);
	/* small groups (tests) grow early */
	CHECK_INT(os_upload_part_len(SMALL, GROUP, 4), SMALL);
	CHECK_INT(os_upload_part_len(SMALL, GROUP, 5), 2 * SMALL);
	CHECK_INT(os_upload_part_off(SMALL, GROUP, 9), 4 * SMALL + 4 * 2 * SMALL);
	setenv("LITHFS_TEST_PART_GROUP", "0", 1);
	CHECK_INT(os_upload_group(), OS_UPLOAD_GROUP);
	setenv("LITHFS_TEST_PART_GROUP", "4", 1);
	CHECK_INT(os_upload_group(), GROUP);
}

/* ---- a spy store: checks each part's size, offset and bytes ---- */

#define SPY_PARTS 64

struct spy {
	struct objstore base;
	size_t part_size;		/* of the schedule checked */
	int group;
	bool blind;			/* do not read the bytes (sparse files) */
	pthread_mutex_t lock;
	uint64_t len[SPY_PARTS];	/* protected by lock */
	int puts[SPY_PARTS];		/* protected by lock */
	int bad;			/* protected by lock: parts with wrong bytes */
	int short_parts;		/* protected by lock: shorter than scheduled */
	size_t completed;
	int whole_puts;
};

static unsigned char pattern(uint64_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

/* Byte i of the stream as the writer means it: the pattern, with the first
 * 100 bytes rewritten as 0xAB by test_fd (the header patch). */
static int patched;

static unsigned char expected(uint64_t i)
{
	return patched && i < 100 ? 0xAB : pattern(i);
}

static bool bytes_ok(const unsigned char *p, uint64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != expected(off + i))
			return false;
	return true;
}

static int spy_create(struct objstore *s, const char *key, const struct os_meta *meta,
		      char **upload_id)
{
	(void)s;
	(void)key;
	(void)meta;
	*upload_id = strdup("id");
	return *upload_id ? 0 : ENOMEM;
}

static int spy_part(struct objstore *s, const char *key, const char *upload_id, int part,
		    const void *p, size_t len, char etag_out[OS_ETAG_MAX])
{
	struct spy *sp = (struct spy *)s;
	uint64_t off = os_upload_part_off(sp->part_size, sp->group, part);
	uint64_t want = os_upload_part_len(sp->part_size, sp->group, part);
	bool ok = len <= want && (sp->blind || (part < SPY_PARTS && bytes_ok(p, off, len)));

	(void)key;
	(void)upload_id;
	pthread_mutex_lock(&sp->lock);
	if (part < SPY_PARTS) {
		sp->len[part] = len;
		sp->puts[part]++;
	}
	sp->bad += !ok;
	sp->short_parts += len < want;
	pthread_mutex_unlock(&sp->lock);
	snprintf(etag_out, OS_ETAG_MAX, "%032d", part);
	return 0;
}

static int spy_put(struct objstore *s, const char *key, const void *data, size_t len,
		   const struct os_meta *meta, char etag_out[OS_ETAG_MAX])
{
	struct spy *sp = (struct spy *)s;

	(void)key;
	(void)meta;
	sp->whole_puts++;
	sp->bad += !bytes_ok(data, 0, len);
	if (etag_out)
		snprintf(etag_out, OS_ETAG_MAX, "whole");
	return 0;
}

static int spy_complete(struct objstore *s, const char *key, const char *upload_id,
			const struct os_part *parts, size_t n, char etag_out[OS_ETAG_MAX])
{
	size_t i;

	(void)key;
	(void)upload_id;
	for (i = 0; i < n; i++)
		if (parts[i].number != (int)i + 1 || atoi(parts[i].etag) != (int)i + 1)
			return EINVAL;
	((struct spy *)s)->completed = n;
	if (etag_out)
		snprintf(etag_out, OS_ETAG_MAX, "x-%zu", n);
	return 0;
}

static int spy_abort(struct objstore *s, const char *key, const char *upload_id)
{
	(void)s;
	(void)key;
	(void)upload_id;
	return 0;
}

static void spy_destroy(struct objstore *s)
{
	(void)s;
}

static const struct objstore_ops spy_ops = {
	.name = "spy",
	.put = spy_put,
	.mpu_create = spy_create,
	.mpu_put_part = spy_part,
	.mpu_complete = spy_complete,
	.mpu_abort = spy_abort,
	.destroy = spy_destroy,
};

static void spy_reset(struct spy *sp)
{
	memset(sp->len, 0, sizeof(sp->len));
	memset(sp->puts, 0, sizeof(sp->puts));
	sp->bad = 0;
	sp->short_parts = 0;
	sp->completed = 0;
	sp->whole_puts = 0;
}

/* Every part 1..n has its scheduled size (the last one the rest). */
static void check_parts(struct spy *sp, uint64_t size, int n)
{
	int i, wrong = 0;

	CHECK_INT(sp->completed, n);
	CHECK_INT(sp->bad, 0);
	for (i = 1; i <= n; i++) {
		uint64_t off = os_upload_part_off(SMALL, GROUP, i);
		uint64_t want = os_upload_part_len(SMALL, GROUP, i);

		if (want > size - off)
			want = size - off;
		wrong += sp->len[i] != want;
	}
	CHECK_INT(wrong, 0);
}

/* 150 MiB + 1 from memory: parts of 5, 10, 20 MiB and the rest. */
static void test_memory(struct spy *sp)
{
	struct os_upload_opts o = { SMALL, 2 };
	uint64_t size = 150 * MIB + 1, off;
	unsigned char *buf = malloc(3 * MIB + 7);
	struct os_upload *u;
	size_t i;
	int n = os_upload_part_count(SMALL, GROUP, size);

	if (!CHECK(buf != NULL))
		return;
	spy_reset(sp);
	CHECK_INT(n, 4 + 4 + 4 + 1);	/* 4 x 5, 4 x 10, 4 x 20 MiB, 10 MiB + 1 */
	if (!CHECK_INT(os_upload_create(&sp->base, "k", NULL, &o, &u), 0))
		goto out_free;
	CHECK_INT(os_upload_extend(u, 1), EINVAL);	/* not an fd upload: dead now */
	CHECK_INT(os_upload_finish(u, NULL), EINVAL);
	spy_reset(sp);
	CHECK_INT(os_upload_create(&sp->base, "k", NULL, &o, &u), 0);
	for (off = 0; off < size; off += 3 * MIB + 7) {
		size_t len = size - off < 3 * MIB + 7 ? (size_t)(size - off) : 3 * MIB + 7;

		for (i = 0; i < len; i++)
			buf[i] = pattern(off + i);
		CHECK_INT(os_upload_write(u, buf, len), 0);
	}
	CHECK_INT(os_upload_finish(u, NULL), 0);
	check_parts(sp, size, n);
out_free:
	free(buf);
}

static int write_pattern(int fd, uint64_t off, size_t len)
{
	unsigned char *buf = malloc(len);
	size_t i;
	int err = 0;

	if (!buf)
		return ENOMEM;
	for (i = 0; i < len; i++)
		buf[i] = expected(off + i);
	if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		err = EIO;
	free(buf);
	return err;
}

/* 150 MiB + 1 read from a file; the first 100 bytes are rewritten once
 * part 1 was sent, and finish sends part 1 again. */
static void test_fd(struct spy *sp)
{
	char path[] = "/tmp/lithfs-test-sched-XXXXXX";
	struct os_upload_opts o = { SMALL, 3 };
	uint64_t size = 150 * MIB + 1, off, done;
	struct os_upload *u;
	int fd = mkstemp(path);
	int n = os_upload_part_count(SMALL, GROUP, size);
	int i, tries;

	if (!CHECK(fd >= 0))
		return;
	unlink(path);
	spy_reset(sp);
	patched = 0;
	CHECK_INT(os_upload_create_fd(&sp->base, "k", NULL, &o, -1, &u), EINVAL);
	if (!CHECK_INT(os_upload_create_fd(&sp->base, "k", NULL, &o, fd, &u), 0))
		goto out_close;
	CHECK_INT(os_upload_done(u, 0), 0);	/* nothing sent yet */
	for (off = 0; off < size; off += MIB) {
		size_t len = size - off < MIB ? (size_t)(size - off) : MIB;

		CHECK_INT(write_pattern(fd, off, len), 0);
		if (!CHECK_INT(os_upload_extend(u, len), 0))
			break;
	}
	CHECK_INT(os_upload_write(u, "x", 1) == EINVAL && os_upload_finish(u, NULL) == EINVAL, 1);

	spy_reset(sp);
	CHECK_INT(os_upload_create_fd(&sp->base, "k", NULL, &o, fd, &u), 0);
	CHECK_INT(os_upload_extend(u, 30 * MIB), 0);	/* 4 parts of 5, 1 of 10 */
	for (tries = 0; tries < 500 && os_upload_done(u, 0) < 20 * MIB; tries++)
		usleep(10000);
	done = os_upload_done(u, 0);
	CHECK(done >= 20 * MIB);	/* at least parts 1-4 */
	CHECK_INT(os_upload_done(u, 5 * MIB) >= 20 * MIB, 1);
	patched = 1;
	CHECK_INT(write_pattern(fd, 0, 100), 0);
	CHECK_INT(os_upload_dirty(u, 0, 100), 0);
	CHECK_INT(os_upload_done(u, 0), 0);	/* part 1 is not clean any more */
	CHECK_INT(os_upload_done(u, 5 * MIB), done);
	CHECK_INT(os_upload_extend(u, size - 30 * MIB), 0);
	CHECK_INT(os_upload_finish(u, NULL), 0);
	check_parts(sp, size, n);
	CHECK_INT(sp->puts[1], 2);
	for (i = 2; i <= n; i++)
		CHECK_INT(sp->puts[i], 1);

	/* one part or less: a single PUT read from the file */
	spy_reset(sp);
	CHECK_INT(os_upload_create_fd(&sp->base, "k", NULL, &o, fd, &u), 0);
	CHECK_INT(os_upload_extend(u, SMALL), 0);
	CHECK_INT(os_upload_finish(u, NULL), 0);
	CHECK_INT(sp->whole_puts, 1);
	CHECK_INT(sp->bad, 0);
	CHECK_INT(sp->completed, 0);
out_close:
	close(fd);
}

/* The real schedule end to end on sparse files (the spy reads nothing):
 * 1 TiB at 16 MiB parts is 6040 parts; 5 MiB parts stop at exactly 10,000
 * parts (4.88 TiB), the next byte is EFBIG. */
static void test_terabytes(struct spy *sp)
{
	char path[] = "/tmp/lithfs-test-sched-XXXXXX";
	struct os_upload_opts o16 = { 16 << 20, 4 }, o5 = { SMALL, 4 };
	uint64_t cap5 = os_upload_part_off(SMALL, OS_UPLOAD_GROUP, OS_UPLOAD_PARTS_MAX + 1);
	struct os_upload *u;
	int fd = mkstemp(path);

	if (!CHECK(fd >= 0))
		return;
	unlink(path);
	if (ftruncate(fd, (off_t)cap5) != 0) {
		fprintf(stderr, "no sparse file of %llu bytes here: terabyte checks skipped\n",
			(unsigned long long)cap5);
		close(fd);
		return;
	}
	unsetenv("LITHFS_TEST_PART_GROUP");
	sp->blind = true;
	sp->group = OS_UPLOAD_GROUP;
	sp->part_size = 16 << 20;
	spy_reset(sp);
	CHECK_INT(os_upload_create_fd(&sp->base, "k", NULL, &o16, fd, &u), 0);
	CHECK_INT(os_upload_extend(u, TIB), 0);
	CHECK_INT(os_upload_finish(u, NULL), 0);
	CHECK_INT(sp->completed, 6040);
	CHECK_INT(sp->bad, 0);
	CHECK_INT(sp->short_parts, 1);	/* the last one */

	sp->part_size = SMALL;
	spy_reset(sp);
	CHECK_INT(os_upload_create_fd(&sp->base, "k", NULL, &o5, fd, &u), 0);
	CHECK_INT(os_upload_extend(u, cap5), 0);
	CHECK_INT(os_upload_extend(u, 1), EFBIG);
	CHECK_INT(os_upload_finish(u, NULL), EFBIG);
	spy_reset(sp);
	CHECK_INT(os_upload_create_fd(&sp->base, "k", NULL, &o5, fd, &u), 0);
	CHECK_INT(os_upload_extend(u, cap5), 0);
	CHECK_INT(os_upload_finish(u, NULL), 0);
	CHECK_INT(sp->completed, OS_UPLOAD_PARTS_MAX);
	CHECK_INT(sp->bad, 0);
	CHECK_INT(sp->short_parts, 0);
	fprintf(stderr, "sparse streams: 1 TiB in 6040 parts of 16 MiB..., %.2f TiB in "
		"10,000 parts of 5 MiB..., one byte more is EFBIG\n", (double)cap5 / (double)TIB);
	sp->blind = false;
	close(fd);
}

int main(void)
{
	struct spy sp;

	log_init("test_upload_sched", getenv("V") ? LOG_DEBUG : LOG_CRIT);
	test_schedule();
	memset(&sp, 0, sizeof(sp));
	sp.base.ops = &spy_ops;
	sp.part_size = SMALL;
	sp.group = GROUP;
	pthread_mutex_init(&sp.lock, NULL);
	test_memory(&sp);
	test_fd(&sp);
	test_terabytes(&sp);
	pthread_mutex_destroy(&sp.lock);
	return check_exit();
}
