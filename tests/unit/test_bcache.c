/*
 * test_bcache.c - unit tests of the LMDB block cache (src/cache/bcache.c).
 *
 * Each test works in its own directory under a mkdtemp() root. Tests that
 * share a cache between processes fork first and open the cache in each
 * process afterwards (LMDB handles must not cross fork()).
 *
 * `test_bcache --fill DIR` is a helper for tests/integ/cache-*.sh: it stores
 * 8 blocks in the cache at DIR, reads them back (8 hits) and misses once.
 */
#include "config.h"
#include "cache/bcache.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BS 65536u
static const char *SID = "file:///test/bucket";
static char root[4096];
static unsigned char blk[BS], out[BS];

static void fill(unsigned char *b, uint64_t seed, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 9));
}

static char *subdir(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", root, name) < 0)
		abort();
	return p;
}

static struct bcache *open_cache(const char *dir, uint64_t max)
{
	char err[256] = "";
	struct bcache *c = NULL;
	int rc = bc_open(dir, max, &c, err, sizeof(err));

	if (!CHECK_INT(rc, 0))
		fprintf(stderr, "bc_open %s: %s\n", dir, err);
	return c;
}

static void put_idx(struct bcache *c, const char *key, const char *etag, uint64_t i)
{
	fill(blk, i, BS);
	CHECK_INT(bc_put(c, SID, key, etag, BS, i, blk, BS), 0);
}

/* 1 when block i of key/etag is cached with the right bytes, 0 on a miss. */
static int has_idx(struct bcache *c, const char *key, const char *etag, uint64_t i)
{
	size_t len = 0;
	int rc = bc_get(c, SID, key, etag, BS, i, out, &len);

	if (rc == ENOENT)
		return 0;
	CHECK_INT(rc, 0);
	fill(blk, i, BS);
	CHECK_INT(len, BS);
	CHECK(memcmp(out, blk, BS) == 0);
	return 1;
}

static void test_hit_miss(void)
{
	char *dir = subdir("hitmiss");
	struct bcache *c = open_cache(dir, 64 << 20);
	struct bc_stats st;
	char longkey[1200];
	size_t len = 0;

	if (!c)
		return;
	CHECK_INT(has_idx(c, "a/b", "e1", 0), 0);
	put_idx(c, "a/b", "e1", 0);
	CHECK_INT(has_idx(c, "a/b", "e1", 0), 1);
	CHECK_INT(has_idx(c, "a/b", "e1", 1), 0);
	/* a different ETag (changed object) or block size is another block */
	CHECK_INT(has_idx(c, "a/b", "e2", 0), 0);
	CHECK_INT(bc_get(c, SID, "a/b", "e1", BS * 2, 0, out, &len), ENOENT);
	CHECK_INT(bc_get(c, "s3:other", "a/b", "e1", BS, 0, out, &len), ENOENT);
	/* a short last block; a key past LMDB's 511-byte key limit */
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	fill(blk, 9, 100);
	bc_put(c, SID, longkey, "e1", BS, 9, blk, 100);
	CHECK_INT(bc_get(c, SID, longkey, "e1", BS, 9, out, &len), 0);
	CHECK_INT(len, 100);
	CHECK(memcmp(out, blk, 100) == 0);
	longkey[5] = 'x';
	CHECK_INT(bc_get(c, SID, longkey, "e1", BS, 9, out, &len), ENOENT);
	CHECK_INT(bc_get_stats(c, &st), 0);
	CHECK_INT(st.hits, 2);
	CHECK_INT(st.misses, 6);
	CHECK_INT(st.blocks, 2);
	CHECK_INT(st.bytes, BS + 100);
	CHECK_INT(st.bytes_hit, BS + 100);
	CHECK_INT(st.bytes_fetched, BS + 100);
	CHECK_INT(st.max_bytes, 64 << 20);
	CHECK_INT(bc_clear(c), 0);
	CHECK_INT(has_idx(c, "a/b", "e1", 0), 0);
	CHECK_INT(bc_get_stats(c, &st), 0);
	CHECK_INT(st.blocks, 0);
	CHECK_INT(st.bytes, 0);
	bc_close(c);
	free(dir);
}

static void test_permissions(void)
{
	char *dir = subdir("perm"), *data = subdir("perm/data.mdb");
	struct bcache *c;
	struct stat st;

	CHECK_INT(mkdir(dir, 0755), 0);
	c = open_cache(dir, 16 << 20);
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(stat(data, &st) == 0 && (st.st_mode & 0777) == 0600);
	bc_close(c);
	free(data);
	free(dir);
}

/* Tiny cache: size stays bounded, recent and recently hit blocks survive. */
static void test_eviction(void)
{
	char *dir = subdir("evict");
	struct bcache *c = open_cache(dir, 16 * BS);
	struct bc_stats st;
	int bounded = 1;

	if (!c)
		return;
	for (uint64_t i = 0; i < 12; i++)
		put_idx(c, "obj", "e", i);
	CHECK_INT(has_idx(c, "obj", "e", 0), 1);	/* old enough: queues a touch */
	for (uint64_t i = 12; i < 100; i++) {
		put_idx(c, "obj", "e", i);
		bc_get_stats(c, &st);
		bounded &= st.bytes <= 16 * BS;
		if (i == 20) {
			CHECK_INT(has_idx(c, "obj", "e", 0), 1);
			CHECK_INT(has_idx(c, "obj", "e", 1), 0);
		}
	}
	CHECK(bounded);
	for (uint64_t i = 90; i < 100; i++)
		CHECK_INT(has_idx(c, "obj", "e", i), 1);
	CHECK_INT(has_idx(c, "obj", "e", 50), 0);
	bc_get_stats(c, &st);
	CHECK(st.evictions >= 84);
	CHECK(st.blocks <= 16 && st.blocks >= 10);
	CHECK_INT(st.put_failures, 0);
	bc_close(c);
	free(dir);
}

/* A reader in another process pins old pages: the map fills up. Puts are
 * absorbed (counted); once the reader is gone, puts work again. */
static void test_map_full(void)
{
	char *dir = subdir("mapfull");
	struct bcache *c = open_cache(dir, 8 * BS);
	struct bc_stats st;
	int go[2], done[2];
	char b = 0;

	if (!c)
		return;
	put_idx(c, "o", "e", 0);
	bc_close(c);
	if (pipe(go) || pipe(done))
		abort();
	pid_t pid = fork();

	if (pid == 0) {			/* opens its own env after fork */
		MDB_env *env;
		MDB_txn *txn;
		int rc = mdb_env_create(&env);

		mdb_env_set_maxdbs(env, 8);
		rc = rc ? rc : mdb_env_open(env, dir, MDB_NOTLS | MDB_RDONLY, 0600);
		rc = rc ? rc : mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
		if (write(go[1], &b, 1) != 1 || read(done[0], &b, 1) != 1)
			rc = 1;
		_exit(rc ? 1 : 0);
	}
	CHECK_INT(read(go[0], &b, 1), 1);
	c = open_cache(dir, 8 * BS);
	if (!c)
		return;
	for (uint64_t i = 1; i < 1000; i++)
		put_idx(c, "o", "e", i);
	bc_get_stats(c, &st);
	CHECK(st.put_failures > 0);
	CHECK(st.bytes <= 8 * BS);
	CHECK_INT(write(done[1], &b, 1), 1);
	int status = -1;

	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK_INT(status, 0);
	uint64_t failures = st.put_failures;

	for (uint64_t i = 1000; i < 1040; i++)
		put_idx(c, "o", "e", i);
	bc_get_stats(c, &st);
	CHECK_INT(st.put_failures, failures);
	CHECK_INT(has_idx(c, "o", "e", 1039), 1);
	bc_close(c);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
	free(dir);
}

/* Two processes share one cache and see each other's blocks. */
static void test_two_processes(void)
{
	char *dir = subdir("shared");
	int p2c[2], c2p[2];
	char b = 0;

	if (pipe(p2c) || pipe(c2p))
		abort();
	pid_t pid = fork();

	if (pid == 0) {
		struct bcache *c = open_cache(dir, 64 << 20);

		if (!c)
			_exit(1);
		put_idx(c, "child", "e", 0);
		if (write(c2p[1], &b, 1) != 1 || read(p2c[0], &b, 1) != 1)
			_exit(1);
		CHECK_INT(has_idx(c, "parent", "e", 0), 1);
		bc_close(c);
		_exit(check_failures ? 1 : 0);
	}
	CHECK_INT(read(c2p[0], &b, 1), 1);
	struct bcache *c = open_cache(dir, 64 << 20);
	struct bc_stats st;
	int status = -1;

	if (c) {
		CHECK_INT(has_idx(c, "child", "e", 0), 1);
		put_idx(c, "parent", "e", 0);
	}
	CHECK_INT(write(p2c[1], &b, 1), 1);
	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK_INT(status, 0);
	/* the child's hit was merged into the shared counters at its close */
	if (c) {
		CHECK_INT(bc_get_stats(c, &st), 0);
		CHECK_INT(st.hits, 2);
		CHECK_INT(st.blocks, 2);
	}
	bc_close(c);
	close(p2c[0]);
	close(p2c[1]);
	close(c2p[0]);
	close(c2p[1]);
	free(dir);
}

/* Another process grows the file past this process's map (MDB_MAP_RESIZED):
 * this one remaps and reads the new blocks. */
static void test_map_resized(void)
{
	char *dir = subdir("resized");
	struct bcache *c = open_cache(dir, 4 * BS);	/* map about 8.4 MiB */
	int status = -1;

	if (!c)
		return;
	put_idx(c, "small", "e", 0);
	pid_t pid = fork();

	if (pid == 0) {
		struct bcache *big = open_cache(dir, 64 << 20);

		for (uint64_t i = 0; i < 400 && big; i++)	/* 25 MiB */
			put_idx(big, "big", "e", i);
		bc_close(big);
		_exit(big && !check_failures ? 0 : 1);
	}
	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK_INT(status, 0);
	CHECK_INT(has_idx(c, "big", "e", 399), 1);
	CHECK_INT(has_idx(c, "big", "e", 0), 1);
	bc_close(c);
	free(dir);
}

static void test_persistence(void)
{
	char *dir = subdir("persist");
	struct bcache *c = open_cache(dir, 32 << 20);
	struct bc_stats st;

	if (!c)
		return;
	put_idx(c, "p", "e", 3);
	CHECK_INT(has_idx(c, "p", "e", 3), 1);
	bc_close(c);
	c = open_cache(dir, 0);		/* 0: keeps the stored max */
	if (!c)
		return;
	CHECK_INT(has_idx(c, "p", "e", 3), 1);
	bc_get_stats(c, &st);
	CHECK_INT(st.hits, 2);
	CHECK_INT(st.blocks, 1);
	CHECK_INT(st.max_bytes, 32 << 20);
	for (uint64_t i = 10; i < 20; i++)
		put_idx(c, "p", "e", i);
	bc_close(c);
	/* a lower limit trims the cache at open, newest blocks stay */
	c = open_cache(dir, 4 * BS);
	if (!c)
		return;
	bc_get_stats(c, &st);
	CHECK(st.bytes <= 4 * BS && st.blocks > 0);
	CHECK_INT(has_idx(c, "p", "e", 19), 1);
	CHECK_INT(has_idx(c, "p", "e", 3), 0);
	bc_close(c);
	free(dir);
}

static void test_foreign_dir(void)
{
	char *dir = subdir("foreign"), *f = subdir("foreign/notes.txt");
	char *dir2 = subdir("foreign2"), *f2 = subdir("foreign2/data.mdb");
	char err[256] = "";
	struct bcache *c = NULL;

	CHECK_INT(mkdir(dir, 0700), 0);
	close(open(f, O_CREAT | O_WRONLY, 0600));
	CHECK_INT(bc_open(dir, 0, &c, err, sizeof(err)), EINVAL);
	CHECK(c == NULL);
	CHECK(strstr(err, "not a lithfs cache") != NULL);
	CHECK(access(f, F_OK) == 0);	/* nothing touched */
	/* an LMDB environment that is not ours */
	CHECK_INT(mkdir(dir2, 0700), 0);
	close(open(f2, O_CREAT | O_WRONLY, 0600));
	err[0] = '\0';
	CHECK_INT(bc_open(dir2, 0, &c, err, sizeof(err)), EINVAL);
	CHECK(err[0] != '\0');
	free(f);
	free(dir);
	free(f2);
	free(dir2);
}

static void test_corrupt(void)
{
	char *dir = subdir("corrupt"), *data = subdir("corrupt/data.mdb");
	char *aside = subdir("corrupt/data.mdb.corrupt");
	struct bcache *c = open_cache(dir, 32 << 20);
	char junk[16384];
	int fd;

	if (!c)
		return;
	put_idx(c, "x", "e", 0);
	bc_close(c);
	memset(junk, 0x5a, sizeof(junk));
	fd = open(data, O_WRONLY);
	CHECK(fd >= 0 && pwrite(fd, junk, sizeof(junk), 0) == (ssize_t)sizeof(junk));
	close(fd);
	c = open_cache(dir, 32 << 20);
	if (!c)
		return;
	CHECK(access(aside, F_OK) == 0);
	CHECK_INT(has_idx(c, "x", "e", 0), 0);
	put_idx(c, "x", "e", 0);
	CHECK_INT(has_idx(c, "x", "e", 0), 1);
	bc_close(c);
	free(aside);
	free(data);
	free(dir);
}

/* An unwritable directory is refused cleanly; a directory deleted while the
 * cache runs turns gets into misses and absorbs puts. */
static void test_unwritable_deleted(void)
{
	char *dir = subdir("ro"), *inner = subdir("ro/cache"), *gone = subdir("gone");
	char cmd[4200];
	struct bc_stats st;
	int status = -1;

	CHECK_INT(mkdir(dir, 0555), 0);
	pid_t pid = fork();

	if (pid == 0) {		/* as an unprivileged user (we may be root) */
		char err[256] = "";
		struct bcache *c = NULL;

		if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(2);
		int rc = bc_open(inner, 0, &c, err, sizeof(err));

		_exit(rc == EACCES && !c && err[0] ? 0 : 1);
	}
	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK_INT(status, 0);

	struct bcache *c = open_cache(gone, 32 << 20);

	if (!c)
		return;
	put_idx(c, "g", "e", 0);
	CHECK_INT(has_idx(c, "g", "e", 0), 1);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", gone);
	CHECK_INT(system(cmd), 0);
	usleep(200 * 1000);	/* data.mdb is looked at every 0.1 s */
	CHECK_INT(has_idx(c, "g", "e", 0), 0);
	put_idx(c, "g", "e", 1);
	CHECK_INT(has_idx(c, "g", "e", 1), 0);
	bc_get_stats(c, &st);
	CHECK_INT(st.put_failures, 1);
	CHECK_INT(st.misses, 2);
	bc_close(c);
	free(gone);
	free(inner);
	free(dir);
}

struct worker {
	struct bcache *c;
	int id;
	int ok;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned char *b = malloc(BS), *o = malloc(BS);
	char key[32];
	size_t len;

	snprintf(key, sizeof(key), "t%d", w->id);
	w->ok = 1;
	for (uint64_t i = 0; i < 16; i++) {
		fill(b, i + (uint64_t)w->id * 100, BS);
		bc_put(w->c, SID, key, "e", BS, i, b, BS);
	}
	for (uint64_t i = 0; i < 16; i++) {
		fill(b, i + (uint64_t)w->id * 100, BS);
		if (bc_get(w->c, SID, key, "e", BS, i, o, &len) || len != BS ||
		    memcmp(b, o, BS))
			w->ok = 0;
	}
	free(b);
	free(o);
	return NULL;
}

/* Many threads put and get at once (group commit). */
static void test_threads(void)
{
	char *dir = subdir("threads");
	struct bcache *c = open_cache(dir, 256 << 20);
	struct worker w[8];
	pthread_t t[8];
	struct bc_stats st;

	if (!c)
		return;
	for (int i = 0; i < 8; i++) {
		w[i].c = c;
		w[i].id = i;
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CHECK(w[i].ok);
	}
	bc_get_stats(c, &st);
	CHECK_INT(st.blocks, 128);
	CHECK_INT(st.hits, 128);
	bc_close(c);
	free(dir);
}

static int fill_mode(const char *dir)
{
	struct bcache *c = open_cache(dir, 0);

	if (!c)
		return 1;
	for (uint64_t i = 0; i < 8; i++)
		put_idx(c, "integ/object", "etag1", i);
	for (uint64_t i = 0; i < 8; i++)
		CHECK_INT(has_idx(c, "integ/object", "etag1", i), 1);
	CHECK_INT(has_idx(c, "integ/object", "etag1", 8), 0);
	bc_close(c);
	return check_failures ? 1 : 0;
}

/* bc_get_range copies just the range; a range past the block's end misses. */
static void test_range(void)
{
	char *dir = subdir("range");
	struct bcache *c = open_cache(dir, 64 << 20);
	struct bc_stats st;
	size_t blen = 0;

	if (!c)
		return;
	put_idx(c, "r", "e1", 3);
	fill(blk, 3, BS);
	memset(out, 0, BS);
	CHECK_INT(bc_get_range(c, SID, "r", "e1", BS, 3, 5000, 4096, out, &blen), 0);
	CHECK_INT(blen, BS);
	CHECK(memcmp(out, blk + 5000, 4096) == 0);
	CHECK_INT(out[4096], 0);		/* nothing past the range */
	CHECK_INT(bc_get_range(c, SID, "r", "e1", BS, 3, BS - 10, 10, out, &blen), 0);
	CHECK(memcmp(out, blk + BS - 10, 10) == 0);
	CHECK_INT(bc_get_range(c, SID, "r", "e1", BS, 3, BS - 10, 11, out, &blen), ENOENT);
	CHECK_INT(bc_get_range(c, SID, "r", "e1", BS, 3, BS + 1, 0, out, &blen), ENOENT);
	CHECK_INT(bc_get_range(c, SID, "r", "e2", BS, 3, 0, 10, out, &blen), ENOENT);
	/* a short (last) block: its length comes from the index entry */
	fill(blk, 9, BS);
	CHECK_INT(bc_put(c, SID, "r", "e1", BS, 9, blk, 5000), 0);
	CHECK_INT(bc_get_range(c, SID, "r", "e1", BS, 9, 4000, 1000, out, &blen), 0);
	CHECK_INT(blen, 5000);
	CHECK(memcmp(out, blk + 4000, 1000) == 0);
	CHECK_INT(bc_get_range(c, SID, "r", "e1", BS, 9, 4000, 1001, out, &blen), ENOENT);
	CHECK_INT(bc_get_stats(c, &st), 0);
	CHECK_INT(st.hits, 3);
	CHECK_INT(st.misses, 4);
	CHECK_INT(st.bytes_hit, 4096 + 10 + 1000);
	bc_close(c);
	free(dir);
}

/* bc_put_many stores a batch of blocks of several objects in one write
 * transaction; a block too long is skipped and counted, the rest stored;
 * bc_has sees stored blocks without counting hits or misses. */
static void test_put_many(void)
{
	char *dir = subdir("many");
	struct bcache *c = open_cache(dir, 64 << 20);
	static unsigned char data[5][BS];
	struct bc_block b[5];
	struct bc_stats st;

	if (!c)
		return;
	for (int i = 0; i < 5; i++) {
		fill(data[i], (uint64_t)i, BS);
		b[i] = (struct bc_block){ i < 3 ? "m1" : "m2", "e", (uint64_t)i, data[i], BS };
	}
	b[4].len = BS + 1;			/* longer than a block: skipped */
	CHECK_INT(bc_put_many(c, SID, BS, b, 5), 0);
	CHECK_INT(bc_put_many(c, SID, BS, b, 0), 0);
	for (uint64_t i = 0; i < 4; i++) {
		CHECK_INT(bc_has(c, SID, i < 3 ? "m1" : "m2", "e", BS, i), 1);
		CHECK_INT(has_idx(c, i < 3 ? "m1" : "m2", "e", i), 1);
	}
	CHECK_INT(bc_has(c, SID, "m2", "e", BS, 4), 0);
	CHECK_INT(bc_has(c, SID, "m1", "other-etag", BS, 0), 0);
	CHECK_INT(bc_has(c, SID, "m1", "e", BS / 2, 0), 0);
	CHECK_INT(bc_get_stats(c, &st), 0);
	CHECK_INT(st.blocks, 4);
	CHECK_INT(st.put_failures, 1);
	CHECK_INT(st.hits, 4);			/* has_idx only */
	CHECK_INT(st.misses, 0);
	/* a batch again: present blocks are skipped, not stored twice */
	CHECK_INT(bc_put_many(c, SID, BS, b, 4), 0);
	CHECK_INT(bc_get_stats(c, &st), 0);
	CHECK_INT(st.blocks, 4);
	CHECK_INT(st.bytes, 4 * BS);
	bc_close(c);
	free(dir);
}

int main(int argc, char **argv)
{
	char cmd[4200];

	if (argc == 3 && !strcmp(argv[1], "--fill"))
		return fill_mode(argv[2]);
	snprintf(root, sizeof(root), "%s/test_bcache.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	chmod(root, 0755);		/* the unprivileged child must reach ro/ */
	test_hit_miss();
	test_range();
	test_put_many();
	test_permissions();
	test_eviction();
	test_map_full();
	test_two_processes();
	test_map_resized();
	test_persistence();
	test_foreign_dir();
	test_corrupt();
	test_unwritable_deleted();
	test_threads();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	return check_exit();
}
