/*
 * test_upload.c - os_upload_* on the local store: 0 B, 1 B, exactly one
 * part (a single PUT), 3.5 parts (a multipart upload, parts in order), and
 * failing part uploads (transient ones retried; permanent ones abort the
 * upload: no MPU left, the previous object unchanged), plus abort and bad
 * options.
 */
#include "config.h"
#include "objstore/objstore_impl.h"
#include "objstore/upload.h"

#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "oscheck.h"
#include "util/buf.h"
#include "util/log.h"

#define MIB (1u << 20)
#define PART (5 * MIB)

static char tmpdir[PATH_MAX];
#define DATA_LEN (8 * PART)
static char *data;		/* DATA_LEN pseudo-random bytes */

/* Opens bucket `name` in tmpdir, under fault spec and retry when spec is set. */
static struct objstore *open_store(const char *name, const char *spec, int retries)
{
	struct objstore *s = NULL, *f = NULL, *r = NULL;
	char path[PATH_MAX * 2], err[256] = "";
	struct os_config cfg;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	mkdir(path, 0777);
	if (!CHECK_INT(local_store_create(tmpdir, name, &s, err, sizeof(err)), 0)) {
		fprintf(stderr, "  %s\n", err);
		return NULL;
	}
	if (!spec)
		return s;
	if (!CHECK_INT(fault_store_create(s, spec, &f, err, sizeof(err)), 0))
		return NULL;
	memset(&cfg, 0, sizeof(cfg));
	cfg.retries = retries;
	CHECK_INT(retry_store_create(f, &cfg, &r), 0);
	return r;
}

/* Writes data[0, size) in uneven pieces. 0 or the first error. */
static int write_pieces(struct os_upload *u, size_t size)
{
	size_t off = 0, n, step = 100 * 1024 + 7;
	int err = 0;

	while (off < size && !err) {
		n = size - off < step ? size - off : step;
		err = os_upload_write(u, data + off, n);
		off += n;
		step = step * 3 % (3 * MIB) + 1;
	}
	return err;
}

static bool no_uploads_left(struct objstore *s)
{
	struct os_upload_list ul;
	bool none;

	if (os_mpu_list(s, NULL, &ul))
		return false;
	none = ul.n == 0;
	os_upload_list_release(&ul);
	return none;
}

/* Uploads size bytes to key and checks the object and its ETag's form. */
static void upload_ok(struct objstore *s, const char *key, size_t size, int inflight,
		      int parts)
{
	struct os_upload_opts opts = { PART, inflight };
	char etag[OS_ETAG_MAX], suffix[16];
	struct os_upload *u;
	struct os_stat st;

	if (!CHECK_INT(os_upload_create(s, key, NULL, &opts, &u), 0))
		return;
	CHECK_INT(write_pieces(u, size), 0);
	CHECK_INT(os_upload_bytes(u), size);
	if (!CHECK_INT(os_upload_finish(u, etag), 0))
		return;
	CHECK(get_is(s, key, data, size));
	CHECK_INT(os_head(s, key, &st), 0);
	CHECK_INT(strcmp(st.etag, etag), 0);
	os_stat_release(&st);
	snprintf(suffix, sizeof(suffix), "-%d", parts);
	if (parts)
		CHECK(strstr(etag, suffix) && strlen(strstr(etag, suffix)) == strlen(suffix));
	else
		CHECK(strchr(etag, '-') == NULL);	/* a plain PUT */
	CHECK(no_uploads_left(s));
}

static void test_sizes(void)
{
	struct objstore *s = open_store("sizes", NULL, 0);
	struct os_meta meta = { NULL, 0 };
	struct os_upload *u;
	struct os_stat st;

	if (!s)
		return;
	upload_ok(s, "zero", 0, 4, 0);
	upload_ok(s, "one", 1, 4, 0);
	upload_ok(s, "onepart", PART, 4, 0);
	upload_ok(s, "onepart+1", PART + 1, 4, 2);
	upload_ok(s, "three.5", 7 * PART / 2, 4, 4);
	upload_ok(s, "serial", 7 * PART / 2, 1, 4);

	/* metadata goes with both paths */
	os_meta_set(&meta, "mode", "100600");
	CHECK_INT(os_upload_create(s, "meta", &meta, NULL, &u), 0);
	os_meta_release(&meta);	/* copied by create */
	CHECK_INT(os_upload_write(u, "abc", 3), 0);
	CHECK_INT(os_upload_finish(u, NULL), 0);
	CHECK_INT(os_head(s, "meta", &st), 0);
	CHECK(os_meta_get(&st.meta, "mode") && strcmp(os_meta_get(&st.meta, "mode"), "100600") == 0);
	os_stat_release(&st);
	os_destroy(s);
}

static void test_part_faults(void)
{
	struct os_upload_opts opts = { PART, 3 };
	struct os_upload *u;
	struct objstore *s;
	int err;

	/* transient failures of parts and completes are retried */
	s = open_store("flaky", "ops=mpu,rate=0.3,seed=5", 30);
	if (s) {
		upload_ok(s, "k", 7 * PART / 2, 3, 4);
		os_destroy(s);
	}

	/* every part fails: the upload is aborted, the old object stays */
	s = open_store("broken", "ops=mpu_part,rate=1", 2);
	if (!s)
		return;
	CHECK_INT(os_put(s, "k", "old", 3, NULL, NULL), 0);
	CHECK_INT(os_upload_create(s, "k", NULL, &opts, &u), 0);
	err = write_pieces(u, 7 * PART / 2);
	CHECK(err == 0 || err == EIO);
	CHECK_INT(os_upload_finish(u, NULL), EIO);
	CHECK(no_uploads_left(s));
	CHECK(get_is(s, "k", "old", 3));
	os_destroy(s);

	/* the complete fails for good */
	s = open_store("broken2", "ops=mpu_complete,rate=1", 2);
	if (!s)
		return;
	CHECK_INT(os_upload_create(s, "k", NULL, &opts, &u), 0);
	CHECK_INT(write_pieces(u, 2 * PART + 5), 0);
	CHECK_INT(os_upload_finish(u, NULL), EIO);
	CHECK(no_uploads_left(s));
	CHECK(!get_is(s, "k", "", 0));
	os_destroy(s);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A store for uploads only: every part upload takes 200 ms, and the most
 * part uploads running at once is recorded. No disk I/O, so timing holds
 * under load. */
struct slow {
	struct objstore base;
	pthread_mutex_t lock;
	int running, most, parts;
	size_t completed;
};

static int slow_create(struct objstore *s, const char *key, const struct os_meta *meta,
		       char **upload_id)
{
	(void)s;
	(void)key;
	(void)meta;
	*upload_id = strdup("id");
	return *upload_id ? 0 : ENOMEM;
}

static int slow_part(struct objstore *s, const char *key, const char *upload_id, int part,
		     const void *p, size_t len, char etag_out[OS_ETAG_MAX])
{
	struct slow *sl = (struct slow *)s;

	(void)key;
	(void)upload_id;
	(void)p;
	(void)len;
	pthread_mutex_lock(&sl->lock);
	if (++sl->running > sl->most)
		sl->most = sl->running;
	sl->parts++;
	pthread_mutex_unlock(&sl->lock);
	usleep(200000);
	pthread_mutex_lock(&sl->lock);
	sl->running--;
	pthread_mutex_unlock(&sl->lock);
	snprintf(etag_out, OS_ETAG_MAX, "%032d", part);
	return 0;
}

static int slow_complete(struct objstore *s, const char *key, const char *upload_id,
			 const struct os_part *parts, size_t n, char etag_out[OS_ETAG_MAX])
{
	size_t i;

	(void)key;
	(void)upload_id;
	for (i = 0; i < n; i++)
		if (parts[i].number != (int)i + 1 || atoi(parts[i].etag) != (int)i + 1)
			return EINVAL;
	((struct slow *)s)->completed = n;
	if (etag_out)
		snprintf(etag_out, OS_ETAG_MAX, "x-%zu", n);
	return 0;
}

static void slow_destroy(struct objstore *s)
{
	(void)s;
}

static const struct objstore_ops slow_ops = {
	.name = "slow",
	.mpu_create = slow_create,
	.mpu_put_part = slow_part,
	.mpu_complete = slow_complete,
	.destroy = slow_destroy,
};

/* Uploads 8 parts with inflight workers; returns how long the writes took. */
static double slow_upload(struct slow *sl, int inflight)
{
	struct os_upload_opts opts = { PART, inflight };
	struct os_upload *u;
	double t0 = now_s(), writes;

	sl->most = sl->parts = 0;
	sl->completed = 0;
	if (!CHECK_INT(os_upload_create(&sl->base, "k", NULL, &opts, &u), 0))
		return 0;
	CHECK_INT(write_pieces(u, 8 * PART), 0);
	writes = now_s() - t0;
	CHECK_INT(os_upload_finish(u, NULL), 0);
	CHECK_INT(sl->parts, 8);
	CHECK_INT(sl->completed, 8);
	return writes;
}

/* Parts upload in parallel but never more than max_inflight at once, and
 * writes block while max_inflight parts are on their way (the memory bound). */
static void test_parallel(void)
{
	struct slow sl;
	double writes;

	memset(&sl, 0, sizeof(sl));
	sl.base.ops = &slow_ops;
	pthread_mutex_init(&sl.lock, NULL);
	writes = slow_upload(&sl, 1);
	CHECK_INT(sl.most, 1);
	/* parts 1..7 are sent while writing; each send waits for the part
	 * before it, so the writes take at least 6 part uploads */
	CHECK(writes >= 6 * 0.2);
	slow_upload(&sl, 4);
	CHECK(sl.most >= 2 && sl.most <= 4);
	fprintf(stderr, "serial writes %.2f s; with 4 in flight at most %d parts at once\n",
		writes, sl.most);
	pthread_mutex_destroy(&sl.lock);
}

static void test_abort_and_opts(void)
{
	struct os_upload_opts small = { MIB, 2 }, many = { PART, 1000 };
	struct objstore *s = open_store("abort", NULL, 0);
	struct os_upload *u;
	struct os_stat st;

	if (!s)
		return;
	CHECK_INT(os_upload_create(s, "k", NULL, NULL, &u), 0);	/* defaults: 16 MiB */
	CHECK_INT(write_pieces(u, 3 * PART), 0);
	os_upload_abort(u);
	CHECK_INT(os_upload_create(s, "k", NULL, &(struct os_upload_opts){ PART, 2 }, &u), 0);
	CHECK_INT(write_pieces(u, 3 * PART), 0);
	os_upload_abort(u);	/* with parts in flight */
	CHECK(no_uploads_left(s));
	CHECK_INT(os_head(s, "k", &st), ENOENT);
	CHECK_INT(os_upload_create(s, "k", NULL, &small, &u), EINVAL);
	CHECK_INT(os_upload_create(s, "k", NULL, &many, &u), EINVAL);
	os_upload_abort(NULL);
	os_destroy(s);
}

int main(void)
{
	char tmpl[] = "/tmp/lithfs-test-upload-XXXXXX";
	char cmd[PATH_MAX + 16];
	unsigned seed = 1;
	size_t i;

	log_init("test_upload", getenv("V") ? LOG_DEBUG : LOG_CRIT);
	setenv("LITHFS_LOCAL_FSYNC", "0", 1);
	setenv("LITHFS_RETRY_BASE_MS", "1", 1);
	if (!mkdtemp(tmpl) || !realpath(tmpl, tmpdir))
		return 1;
	data = malloc(DATA_LEN);
	if (!data)
		return 1;
	for (i = 0; i < DATA_LEN; i++) {
		seed = seed * 1103515245 + 12345;
		data[i] = (char)(seed >> 16);
	}
	test_sizes();
	test_part_faults();
	test_parallel();
	test_abort_and_opts();
	free(data);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (!check_failures && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return check_exit();
}
