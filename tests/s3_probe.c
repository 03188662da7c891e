/*
 * s3_probe.c - drives the S3 backend (s3_store_create, no retry wrapper)
 * against a real S3 server, for tests/integ/s3-backend.sh.
 *
 *   s3_probe check BUCKET   os_check(); exit status = its errno (0 = ok), so
 *                           the script can provoke wrong secrets, missing
 *                           buckets and dead endpoints and read the message
 *   s3_probe get BUCKET KEY OFF LEN|end, list BUCKET PREFIX,
 *   s3_probe complete BUCKET KEY UPLOAD_ID
 *                           one op, exit status = its errno (for a fake
 *                           server that misbehaves on purpose)
 *   s3_probe bench BUCKET   PUT/GET throughput of a 64 MiB object and the
 *                           latency of sequential HEADs
 *   s3_probe ops BUCKET     every op: put/get/range/head/meta, conditional
 *                           and empty reads, odd keys, copy COPY/REPLACE,
 *                           list paging over 2500 keys, delete_many,
 *                           multipart (3 parts from 3 threads), part copies,
 *                           abort, mpu_list, errors; prints one line per
 *                           check and timings; exit 0 iff all passed
 *
 * Settings come from the environment like every lithfs program: S3_ENDPOINT
 * (as the endpoint option), S3_IO_TIMEOUT_MS (io_timeout, default 10000),
 * S3_CA_FILE (ca_file), S3_ADDRESSING (path|virtual), AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
 * AWS_DEFAULT_REGION; S3_NO_SIGN=1 makes anonymous (unsigned) requests. The
 * bucket must exist for "ops" (the script creates
 * it); every key the probe writes is under probe/ and deleted at the end.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "objstore/objstore_impl.h"
#include "objstore/source.h"
#include "util/buf.h"
#include "util/log.h"

#define MIB (1024 * 1024)
#define N_MANY 2500
#define PUT_THREADS 8

static int failures, checks;

static void ok(int cond, const char *what, int rc)
{
	checks++;
	if (cond) {
		printf("ok   %s\n", what);
	} else {
		failures++;
		printf("FAIL %s (rc=%d %s)\n", what, rc, rc ? strerror(rc) : "");
	}
	fflush(stdout);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_store(const char *bucket, struct objstore **s)
{
	char prefix[1] = "";
	struct os_source src = { .kind = OS_KIND_S3, .bucket = (char *)bucket, .prefix = prefix };
	struct os_config cfg;
	char err[512];
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	cfg.endpoint = getenv("S3_ENDPOINT");
	cfg.no_sign = getenv("S3_NO_SIGN") != NULL;
	cfg.ca_file = getenv("S3_CA_FILE");
	if (getenv("S3_ADDRESSING"))
		cfg.addressing = strcmp(getenv("S3_ADDRESSING"), "virtual") == 0 ?
				 OS_ADDR_VIRTUAL : OS_ADDR_PATH;
	cfg.max_conns = 8;
	cfg.connect_timeout_ms = 3000;
	cfg.io_timeout_ms = getenv("S3_IO_TIMEOUT_MS") ? atoi(getenv("S3_IO_TIMEOUT_MS")) : 10000;
	cfg.bucket = bucket;
	rc = s3_store_create(&src, &cfg, s, err, sizeof(err));
	if (rc)
		fprintf(stderr, "s3_probe: %s\n", err);
	return rc;
}

static int sink_buf(void *arg, const void *data, size_t len)
{
	return buf_append(arg, data, len);
}

static int sink_fail(void *arg, const void *data, size_t len)
{
	(void)arg;
	(void)data;
	(void)len;
	return EINTR;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

static void md5_hex(const void *data, size_t len, char out[OS_ETAG_MAX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
	os_hex(md, n, out);
}

/* GETs [off, off+len) and compares with want (wlen bytes). */
static int get_eq(struct objstore *s, const char *key, uint64_t off, uint64_t len,
		  const char *etag, const void *want, size_t wlen)
{
	struct buf b = BUF_INIT;
	int rc = os_get(s, key, off, len, etag, sink_buf, &b);

	if (rc == 0 && (b.len != wlen || (wlen && memcmp(b.data, want, wlen) != 0)))
		rc = EBADMSG;
	buf_release(&b);
	return rc;
}

static void test_object(struct objstore *s, const unsigned char *data, size_t n)
{
	struct os_meta meta = { NULL, 0 };
	struct os_stat st;
	char etag[OS_ETAG_MAX], md5[OS_ETAG_MAX];
	int rc;

	os_meta_set(&meta, "mode", "0100644");
	os_meta_set(&meta, "uid", "1000");
	os_meta_set(&meta, "Note", "caf\xc3\xa9  two spaces");
	rc = os_put(s, "probe/a.bin", data, n, &meta, etag);
	md5_hex(data, n, md5);
	ok(rc == 0 && strcmp(etag, md5) == 0, "put 1 MiB with metadata, ETag = MD5", rc);
	rc = os_head(s, "probe/a.bin", &st);
	ok(rc == 0 && st.size == n && strcmp(st.etag, md5) == 0, "head size and ETag", rc);
	ok(rc == 0 && os_meta_get(&st.meta, "mode") && os_meta_get(&st.meta, "uid") &&
	   strcmp(os_meta_get(&st.meta, "mode"), "0100644") == 0 &&
	   strcmp(os_meta_get(&st.meta, "uid"), "1000") == 0, "head returns x-amz-meta-*", rc);
	ok(rc == 0 && os_meta_get(&st.meta, "note") &&
	   strcmp(os_meta_get(&st.meta, "note"), "caf\xc3\xa9  two spaces") == 0,
	   "metadata: upper-case name stored lower-case, UTF-8 value intact", rc);
	ok(rc == 0 && llabs(st.mtime_ns / 1000000000 - (long long)time(NULL)) < 600,
	   "head Last-Modified is now", rc);
	os_stat_release(&st);
	os_meta_release(&meta);
	os_meta_set(&meta, "note", "x\r\nx-amz-meta-evil: 1");
	rc = os_put(s, "probe/evil", data, 10, &meta, NULL);
	ok(rc == EINVAL, "metadata with CR LF is refused (EINVAL), not sent", rc);
	rc = os_head(s, "probe/evil", &st);
	ok(rc == ENOENT, "and nothing was stored", rc);
	os_stat_release(&st);
	os_meta_release(&meta);

	rc = get_eq(s, "probe/a.bin", 0, OS_RANGE_TO_END, NULL, data, n);
	ok(rc == 0, "get whole object", rc);
	rc = get_eq(s, "probe/a.bin", 1000, 5000, NULL, data + 1000, 5000);
	ok(rc == 0, "get range [1000, 6000)", rc);
	rc = get_eq(s, "probe/a.bin", n - 10, OS_RANGE_TO_END, NULL, data + n - 10, 10);
	ok(rc == 0, "get last 10 bytes to end", rc);
	rc = get_eq(s, "probe/a.bin", n - 10, 100, NULL, data + n - 10, 10);
	ok(rc == 0, "get range past the end is cut at the end", rc);
	rc = get_eq(s, "probe/a.bin", 0, 4096, md5, data, 4096);
	ok(rc == 0, "get with matching If-Match", rc);
	rc = get_eq(s, "probe/a.bin", 0, 4096, "0123456789abcdef0123456789abcdef", data, 4096);
	ok(rc == ESTALE, "get with stale ETag -> ESTALE", rc);
	rc = get_eq(s, "probe/a.bin", n, 10, NULL, NULL, 0);
	ok(rc == EINVAL, "get at offset == size -> EINVAL", rc);
	rc = get_eq(s, "probe/a.bin", n + 5, OS_RANGE_TO_END, NULL, NULL, 0);
	ok(rc == EINVAL, "get past the end -> EINVAL", rc);
	rc = get_eq(s, "probe/missing", 0, 10, NULL, NULL, 0);
	ok(rc == ENOENT, "get missing key -> ENOENT", rc);
	rc = os_head(s, "probe/missing", &st);
	ok(rc == ENOENT, "head missing key -> ENOENT", rc);
	os_stat_release(&st);
	rc = os_get(s, "probe/a.bin", 0, OS_RANGE_TO_END, NULL, sink_fail, NULL);
	ok(rc == EINTR, "a sink's error stops the GET and is returned", rc);

	rc = os_put(s, "probe/empty", NULL, 0, NULL, NULL);
	ok(rc == 0, "put empty object", rc);
	ok(get_eq(s, "probe/empty", 0, 4096, NULL, NULL, 0) == 0, "get [0, 4096) of empty", 0);
	ok(get_eq(s, "probe/empty", 0, OS_RANGE_TO_END, NULL, NULL, 0) == 0,
	   "get whole empty object", 0);
	rc = get_eq(s, "probe/empty", 1, 10, NULL, NULL, 0);
	ok(rc == EINVAL, "get [1, 11) of empty -> EINVAL", rc);
}

static void test_odd_keys(struct objstore *s)
{
	static const char *const keys[] = {
		"probe/odd/sp ace+plus%25&amp;?#",
		"probe/odd/\xc3\xbc\xe2\x82\xac",
		"probe/odd/a//b/./c/../d",
		"probe/odd/line\nbreak\ttab",
		"probe/odd/~!*'();:@=$,[]",
		"probe/odd/dir x+y%z/f",
		"probe/odd/ctl\x01char",
	};
	struct os_list_page p;
	size_t i, found = 0, j;
	int rc = 0;

	for (i = 0; i < 7 && rc == 0; i++) {
		rc = os_put(s, keys[i], keys[i], strlen(keys[i]), NULL, NULL);
		if (rc == 0)
			rc = get_eq(s, keys[i], 0, OS_RANGE_TO_END, NULL, keys[i], strlen(keys[i]));
	}
	ok(rc == 0, "odd keys (space, +, %, UTF-8, //, ./.., newline, \\x01) put and get", rc);
	rc = os_list(s, "probe/odd/", NULL, NULL, 0, &p);
	for (i = 0; rc == 0 && i < p.n_entries; i++)
		for (j = 0; j < 7; j++)
			found += strcmp(p.entries[i].key, keys[j]) == 0;
	ok(rc == 0 && found == 7 && p.n_entries == 7, "odd keys come back from list intact", rc);
	os_list_page_release(&p);
	rc = os_list(s, "probe/odd/", "/", NULL, 0, &p);
	ok(rc == 0 && p.n_prefixes == 2 && strcmp(p.prefixes[1], "probe/odd/dir x+y%z/") == 0,
	   "odd common prefix comes back intact", rc);
	os_list_page_release(&p);
	rc = os_delete_keys(s, keys, 7);
	ok(rc == 0, "delete_many of odd keys (\\x01 falls back to single DELETEs)", rc);
	rc = os_list(s, "probe/odd/", NULL, NULL, 0, &p);
	ok(rc == 0 && p.n_entries == 0, "odd keys all deleted", rc);
	os_list_page_release(&p);
}

static void test_copy(struct objstore *s, const unsigned char *data, size_t n)
{
	struct os_meta meta = { NULL, 0 };
	struct os_stat st;
	char etag[OS_ETAG_MAX], md5[OS_ETAG_MAX];
	const char *mode;
	int rc;

	md5_hex(data, n, md5);
	os_meta_set(&meta, "mode", "0100600");
	rc = os_copy(s, "probe/a.bin", "probe/b.bin", &meta, etag);
	ok(rc == 0 && strcmp(etag, md5) == 0, "copy REPLACE, ETag of the copy", rc);
	rc = os_head(s, "probe/b.bin", &st);
	mode = rc ? NULL : os_meta_get(&st.meta, "mode");
	ok(rc == 0 && mode && strcmp(mode, "0100600") == 0 && !os_meta_get(&st.meta, "uid"),
	   "copy REPLACE replaced the metadata", rc);
	os_stat_release(&st);
	ok(get_eq(s, "probe/b.bin", 0, OS_RANGE_TO_END, NULL, data, n) == 0,
	   "copy has the same bytes", 0);

	rc = os_copy(s, "probe/a.bin", "probe/c.bin", NULL, NULL);
	ok(rc == 0, "copy COPY", rc);
	rc = os_head(s, "probe/c.bin", &st);
	mode = rc ? NULL : os_meta_get(&st.meta, "mode");
	ok(rc == 0 && mode && strcmp(mode, "0100644") == 0 && os_meta_get(&st.meta, "uid"),
	   "copy COPY kept the metadata", rc);
	os_stat_release(&st);

	os_meta_set(&meta, "mode", "0100755");
	rc = os_copy(s, "probe/c.bin", "probe/c.bin", &meta, NULL);
	ok(rc == 0, "copy onto itself updates metadata", rc);
	rc = os_head(s, "probe/c.bin", &st);
	mode = rc ? NULL : os_meta_get(&st.meta, "mode");
	ok(rc == 0 && mode && strcmp(mode, "0100755") == 0 && st.size == n,
	   "self-copy metadata visible, size kept", rc);
	os_stat_release(&st);
	rc = os_copy(s, "probe/missing", "probe/d.bin", NULL, NULL);
	ok(rc == ENOENT, "copy of a missing key -> ENOENT", rc);
	os_meta_release(&meta);
}

struct put_job {
	struct objstore *s;
	int first, step;
	int rc;
};

static void *put_many(void *arg)
{
	struct put_job *j = arg;
	char key[64];
	int i;

	for (i = j->first; i < N_MANY && !j->rc; i += j->step) {
		snprintf(key, sizeof(key), "probe/many/k%05d", i);
		j->rc = os_put(j->s, key, key, strlen(key), NULL, NULL);
	}
	return NULL;
}

static void test_many(struct objstore *s)
{
	struct put_job jobs[PUT_THREADS];
	pthread_t th[PUT_THREADS];
	struct os_list_page p;
	char *token = NULL, **keys = calloc(N_MANY, sizeof(char *)), want[64];
	size_t total = 0, pages = 0, i, order_ok = 1;
	double t0 = now_s(), t1;
	int rc = 0, k;

	for (k = 0; k < PUT_THREADS; k++) {
		jobs[k] = (struct put_job){ s, k, PUT_THREADS, 0 };
		pthread_create(&th[k], NULL, put_many, &jobs[k]);
	}
	for (k = 0; k < PUT_THREADS; k++) {
		pthread_join(th[k], NULL);
		rc = rc ? rc : jobs[k].rc;
	}
	t1 = now_s();
	ok(rc == 0, "put 2500 keys from 8 threads", rc);
	printf("     %d PUTs in %.2f s (%.0f/s)\n", N_MANY, t1 - t0, N_MANY / (t1 - t0));
	do {
		rc = os_list(s, "probe/many/", NULL, token, 1000, &p);
		free(token);
		token = NULL;
		if (rc)
			break;
		pages++;
		for (i = 0; i < p.n_entries && total < N_MANY; i++, total++) {
			snprintf(want, sizeof(want), "probe/many/k%05zu", total);
			order_ok &= strcmp(p.entries[i].key, want) == 0 &&
				    p.entries[i].size == strlen(want);
			keys[total] = strdup(p.entries[i].key);
		}
		token = p.next_token;
		p.next_token = NULL;
		os_list_page_release(&p);
	} while (token && pages < 10);
	ok(rc == 0 && pages == 3 && total == N_MANY && order_ok,
	   "list 2500 keys in 3 pages of 1000, in order, sizes right", rc);
	printf("     listed in %.2f s\n", now_s() - t1);

	rc = os_list(s, "probe/", "/", NULL, 0, &p);
	ok(rc == 0 && p.n_prefixes >= 1 && strcmp(p.prefixes[0], "probe/many/") == 0 &&
	   p.n_entries >= 1, "list with delimiter gives common prefixes", rc);
	os_list_page_release(&p);

	t1 = now_s();
	rc = os_delete_keys(s, (const char *const *)keys, total);
	ok(rc == 0, "delete_many of 2500 keys (3 batches)", rc);
	printf("     deleted in %.2f s\n", now_s() - t1);
	rc = os_list(s, "probe/many/", NULL, NULL, 0, &p);
	ok(rc == 0 && p.n_entries == 0, "list after delete_many is empty", rc);
	os_list_page_release(&p);
	rc = os_delete_keys(s, (const char *const *)keys, 10);
	ok(rc == 0, "delete_many of missing keys is not an error", rc);
	for (i = 0; i < total; i++)
		free(keys[i]);
	free(keys);
}

struct part_job {
	struct objstore *s;
	const char *upload_id;
	int number;
	const unsigned char *data;
	size_t len;
	struct os_part *part;
	int rc;
};

static void *put_part(void *arg)
{
	struct part_job *j = arg;

	j->part->number = j->number;
	j->rc = os_mpu_put_part(j->s, "probe/mpu.bin", j->upload_id, j->number, j->data,
				j->len, j->part->etag);
	return NULL;
}

static void test_multipart(struct objstore *s, const unsigned char *data, size_t n)
{
	const size_t sizes[3] = { 5 * MIB, 5 * MIB, n - 10 * MIB };
	struct os_meta meta = { NULL, 0 };
	struct part_job jobs[3];
	struct os_part parts[3];
	pthread_t th[3];
	struct os_stat st;
	char *id = NULL, etag[OS_ETAG_MAX], want[OS_ETAG_MAX];
	size_t off = 0;
	double t0;
	int i, rc;

	os_meta_set(&meta, "mode", "0100640");
	rc = os_mpu_create(s, "probe/mpu.bin", &meta, &id);
	ok(rc == 0 && id && *id, "mpu_create", rc);
	if (rc)
		return;
	t0 = now_s();
	for (i = 0; i < 3; i++) {
		jobs[i] = (struct part_job){ s, id, i + 1, data + off, sizes[i], &parts[i], 0 };
		off += sizes[i];
		pthread_create(&th[i], NULL, put_part, &jobs[i]);
	}
	for (rc = 0, i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		rc = rc ? rc : jobs[i].rc;
	}
	ok(rc == 0, "3 parts uploaded concurrently from 3 threads", rc);
	printf("     %zu MiB in %.2f s\n", n / MIB, now_s() - t0);
	rc = os_mpu_complete(s, "probe/mpu.bin", id, parts, 3, etag);
	os_etag_multipart(parts, 3, want);
	ok(rc == 0 && strcmp(etag, want) == 0 && strstr(etag, "-3"), "mpu_complete, ETag -3",
	   rc);
	rc = os_head(s, "probe/mpu.bin", &st);
	ok(rc == 0 && st.size == n && os_meta_get(&st.meta, "mode"),
	   "completed object: size and metadata", rc);
	ok(rc == 0 && strcmp(st.etag, etag) == 0, "HEAD ETag = ETag from complete", rc);
	os_stat_release(&st);
	t0 = now_s();
	ok(get_eq(s, "probe/mpu.bin", 0, OS_RANGE_TO_END, NULL, data, n) == 0,
	   "completed object has the bytes", 0);
	printf("     GET %zu MiB in %.2f s\n", n / MIB, now_s() - t0);
	ok(get_eq(s, "probe/mpu.bin", 5 * MIB - 7, 14, etag, data + 5 * MIB - 7, 14) == 0,
	   "range across a part boundary, If-Match multipart ETag", 0);
	rc = os_mpu_abort(s, "probe/mpu.bin", id);
	ok(rc == ENOENT, "abort of a completed upload -> ENOENT", rc);
	free(id);
	os_meta_release(&meta);
}

static void test_copy_parts(struct objstore *s, const unsigned char *data, size_t n)
{
	struct os_part parts[2];
	char *id = NULL;
	int rc;

	rc = os_mpu_create(s, "probe/mpcopy.bin", NULL, &id);
	if (rc == 0) {
		parts[0].number = 1;
		rc = os_mpu_copy_part(s, "probe/mpcopy.bin", id, 1, "probe/mpu.bin", 0, 5 * MIB,
				      parts[0].etag);
	}
	if (rc == 0) {
		parts[1].number = 2;
		rc = os_mpu_copy_part(s, "probe/mpcopy.bin", id, 2, "probe/mpu.bin", 5 * MIB,
				      n - 5 * MIB, parts[1].etag);
	}
	ok(rc == 0, "mpu_copy_part x2 (x-amz-copy-source-range)", rc);
	if (rc == 0)
		rc = os_mpu_complete(s, "probe/mpcopy.bin", id, parts, 2, NULL);
	ok(rc == 0, "complete of copied parts", rc);
	ok(get_eq(s, "probe/mpcopy.bin", 0, OS_RANGE_TO_END, NULL, data, n) == 0,
	   "part-copied object has the bytes", 0);
	free(id);
}

static size_t count_uploads(struct objstore *s, const char *id1, const char *id2, int *rc)
{
	struct os_upload_list l;
	size_t i, n = 0;

	*rc = os_mpu_list(s, "probe/pending/", &l);
	for (i = 0; *rc == 0 && i < l.n; i++)
		n += (id1 && strcmp(l.uploads[i].upload_id, id1) == 0) ||
		     (id2 && strcmp(l.uploads[i].upload_id, id2) == 0);
	if (*rc == 0 && n != l.n)
		n = 1000;	/* something else is listed */
	os_upload_list_release(&l);
	return n;
}

static void test_abort_and_list(struct objstore *s, const unsigned char *data)
{
	char *id1 = NULL, *id2 = NULL, etag[OS_ETAG_MAX];
	struct os_part bad = { 1, "00000000000000000000000000000000" };
	int rc;

	rc = os_mpu_create(s, "probe/pending/one", NULL, &id1);
	if (!rc)
		rc = os_mpu_create(s, "probe/pending/two words", NULL, &id2);
	ok(rc == 0, "two uploads created", rc);
	if (rc)
		goto out;
	rc = os_mpu_put_part(s, "probe/pending/one", id1, 1, data, 1000, etag);
	ok(rc == 0, "small last part uploaded", rc);
	ok(count_uploads(s, id1, id2, &rc) == 2 && rc == 0, "mpu_list shows both uploads", rc);
	rc = os_mpu_complete(s, "probe/pending/one", id1, &bad, 1, NULL);
	ok(rc == EINVAL, "complete with a wrong part ETag -> EINVAL (InvalidPart)", rc);
	rc = os_mpu_abort(s, "probe/pending/one", id1);
	ok(rc == 0, "mpu_abort", rc);
	ok(count_uploads(s, id1, id2, &rc) == 1 && rc == 0, "mpu_list after abort: one left",
	   rc);
	rc = os_mpu_put_part(s, "probe/pending/one", id1, 2, data, 1000, etag);
	ok(rc == ENOENT, "part upload to an aborted upload -> ENOENT", rc);
	rc = os_mpu_abort(s, "probe/pending/two words", id2);
	ok(rc == 0 && count_uploads(s, id1, id2, &rc) == 0 && rc == 0,
	   "second abort, mpu_list empty", rc);
	rc = os_mpu_abort(s, "probe/pending/two words", id2);
	ok(rc == ENOENT, "abort twice -> ENOENT", rc);
out:
	free(id1);
	free(id2);
}

struct get_job {
	struct objstore *s;
	const unsigned char *data;
	int rc;
};

static void *get_loop(void *arg)
{
	struct get_job *j = arg;
	int i;

	for (i = 0; i < 20 && !j->rc; i++)
		j->rc = get_eq(j->s, "probe/a.bin", (uint64_t)i * 4096, 4096, NULL,
			       j->data + i * 4096, 4096);
	return NULL;
}

/* 32 threads share a pool of 8 handles. */
static void test_pool(struct objstore *s, const unsigned char *data)
{
	struct get_job jobs[32];
	pthread_t th[32];
	double t0 = now_s();
	int i, rc = 0;

	for (i = 0; i < 32; i++) {
		jobs[i] = (struct get_job){ s, data, 0 };
		pthread_create(&th[i], NULL, get_loop, &jobs[i]);
	}
	for (i = 0; i < 32; i++) {
		pthread_join(th[i], NULL);
		rc = rc ? rc : jobs[i].rc;
	}
	ok(rc == 0, "640 ranged GETs from 32 threads over 8 connections", rc);
	printf("     %.0f GETs/s\n", 640 / (now_s() - t0));
}

static void cleanup(struct objstore *s)
{
	static const char *const keys[] = {
		"probe/a.bin", "probe/b.bin", "probe/c.bin", "probe/empty", "probe/mpu.bin",
		"probe/mpcopy.bin",
	};
	struct os_list_page p;
	int rc;

	rc = os_delete_keys(s, keys, 6);
	ok(rc == 0, "cleanup", rc);
	rc = os_delete(s, "probe/a.bin");
	ok(rc == 0, "delete of a missing key is 0", rc);
	rc = os_list(s, "probe/", NULL, NULL, 0, &p);
	ok(rc == 0 && p.n_entries == 0, "nothing left under probe/", rc);
	os_list_page_release(&p);
}

static int run_ops(const char *bucket)
{
	const size_t n = 11 * MIB;
	unsigned char *data = malloc(n);
	struct objstore *s;
	int rc;

	if (!data || open_store(bucket, &s))
		return 2;
	fill(data, n, 42);
	rc = os_check(s);
	ok(rc == 0, "check", rc);
	ok(strncmp(os_id(s), "s3:http", 7) == 0 && strstr(os_id(s), bucket),
	   "os_id is s3:ENDPOINT/BUCKET", 0);
	test_object(s, data, MIB);
	test_odd_keys(s);
	test_copy(s, data, MIB);
	test_many(s);
	test_multipart(s, data, n);
	test_copy_parts(s, data, n);
	test_abort_and_list(s, data);
	test_pool(s, data);
	cleanup(s);
	os_destroy(s);
	free(data);
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}

static int sink_count(void *arg, const void *data, size_t len)
{
	(void)data;
	*(uint64_t *)arg += len;
	return 0;
}

/* Throughput of the transport: whole-object GETs of a 64 MiB object and
 * sequential HEADs (one connection), for comparison with other clients. */
static int run_bench(const char *bucket)
{
	const size_t n = 64 * MIB;
	unsigned char *data = malloc(n);
	struct os_stat st;
	struct objstore *s;
	uint64_t got;
	double t0;
	int i, rc;

	if (!data || open_store(bucket, &s))
		return 2;
	fill(data, n, 7);
	t0 = now_s();
	rc = os_put(s, "probe/bench.bin", data, n, NULL, NULL);
	printf("PUT 64 MiB: %.1f MB/s (rc %d)\n", n / 1e6 / (now_s() - t0), rc);
	for (i = 0; i < 3 && !rc; i++) {
		got = 0;
		t0 = now_s();
		rc = os_get(s, "probe/bench.bin", 0, OS_RANGE_TO_END, NULL, sink_count, &got);
		printf("GET 64 MiB: %.1f MB/s (rc %d, %llu bytes)\n", n / 1e6 / (now_s() - t0),
		       rc, (unsigned long long)got);
	}
	t0 = now_s();
	for (i = 0; i < 200 && !rc; i++) {
		rc = os_head(s, "probe/bench.bin", &st);
		os_stat_release(&st);
	}
	printf("HEAD: %.2f ms each (rc %d)\n", (now_s() - t0) * 1000 / 200, rc);
	os_delete(s, "probe/bench.bin");
	os_destroy(s);
	free(data);
	return rc ? 1 : 0;
}

/* One op given on the command line; its errno is the exit status. */
static int run_one(int argc, char **argv)
{
	const char *op = argv[1];
	struct os_list_page p;
	struct os_part part = { 1, "0123" };
	struct objstore *s;
	uint64_t got = 0;
	int rc;

	rc = open_store(argv[2], &s);
	if (rc)
		return rc;
	if (strcmp(op, "check") == 0 && argc == 3)
		rc = os_check(s);
	else if (strcmp(op, "get") == 0 && argc == 6)
		rc = os_get(s, argv[3], strtoull(argv[4], NULL, 10),
			    strcmp(argv[5], "end") ? strtoull(argv[5], NULL, 10) : OS_RANGE_TO_END,
			    NULL, sink_count, &got);
	else if (strcmp(op, "list") == 0 && argc == 4)
		rc = os_list(s, argv[3], NULL, NULL, 0, &p);
	else if (strcmp(op, "complete") == 0 && argc == 5)
		rc = os_mpu_complete(s, argv[3], argv[4], &part, 1, NULL);
	else
		rc = 2;
	if (strcmp(op, "list") == 0 && rc == 0)
		os_list_page_release(&p);
	if (strcmp(op, "get") == 0)
		printf("%llu bytes\n", (unsigned long long)got);
	os_destroy(s);
	return rc;
}

int main(int argc, char **argv)
{
	log_init("s3_probe", LOG_NOTICE);
	if (argc < 3) {
		fprintf(stderr, "usage: s3_probe check|ops|bench BUCKET | get BUCKET KEY OFF LEN|end"
			" | list BUCKET PREFIX | complete BUCKET KEY UPLOAD_ID\n");
		return 2;
	}
	if (strcmp(argv[1], "ops") == 0)
		return run_ops(argv[2]);
	if (strcmp(argv[1], "bench") == 0)
		return run_bench(argv[2]);
	return run_one(argc, argv);
}
