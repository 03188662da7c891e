/*
 * test_objstore.c - the object-store layer on the local store in a temp dir:
 * every op, S3 listing semantics (order, prefix, delimiter, continuation),
 * keys a tree cannot hold (collisions, escapes via "..", symlinks),
 * metadata, conditional and ranged GETs, multipart uploads, the sidecar
 * fallback without xattrs, concurrent writers; then the wrapper stack
 * retry(fault(local)): with 30% injected faults every op still succeeds with
 * identical results and a resumed GET delivers each byte once; permanent
 * faults give EIO; fault specs are parsed strictly.
 */
#include "config.h"
#include "objstore/objstore_impl.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "oscheck.h"
#include "util/buf.h"
#include "util/log.h"

#define MIB (1u << 20)

static char tmpdir[PATH_MAX];

/* --- helpers --- */

static bool exists(const char *rel)
{
	char path[PATH_MAX * 2];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	return lstat(path, &st) == 0;
}

static void write_file(const char *rel, const char *text)
{
	char path[PATH_MAX * 2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	f = fopen(path, "w");
	if (!CHECK(f != NULL))
		return;
	fputs(text, f);
	fclose(f);
}

static struct objstore *open_bucket(const char *bucket)
{
	struct objstore *s = NULL;
	char path[PATH_MAX * 2], err[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, bucket);
	mkdir(path, 0777);
	if (!CHECK_INT(local_store_create(tmpdir, bucket, &s, err, sizeof(err)), 0))
		fprintf(stderr, "  %s\n", err);
	return s;
}

static void check_list(struct objstore *s, const char *prefix, const char *delim,
		       int max_keys, const char *want)
{
	check_list_text(s, prefix, delim, max_keys, 0, want, 0);
}

/* --- basic ops --- */

static void test_create(void)
{
	struct objstore *s;
	char err[256] = "", want[PATH_MAX * 2];

	CHECK_INT(local_store_create(tmpdir, "nobucket", &s, err, sizeof(err)), ENOENT);
	CHECK(strstr(err, "bucket directory") && strstr(err, "does not exist"));
	CHECK_INT(local_store_create(tmpdir, "../x", &s, err, sizeof(err)), EINVAL);
	CHECK_INT(local_store_create(tmpdir, "..", &s, err, sizeof(err)), EINVAL);
	s = open_bucket("b0");
	if (!s)
		return;
	snprintf(want, sizeof(want), "file://%s/b0", tmpdir);
	CHECK(streq(os_id(s), want));
	CHECK_INT(os_check(s), 0);
	os_destroy(s);
}

static void test_put_get_head(struct objstore *s)
{
	struct os_meta meta = { NULL, 0 };
	char etag[OS_ETAG_MAX], etag2[OS_ETAG_MAX];
	struct buf b = BUF_INIT;
	struct os_stat st;

	CHECK_INT(os_put(s, "hello", "hello", 5, NULL, etag), 0);
	CHECK(streq(etag, "5d41402abc4b2a76b9719d911017c592"));
	CHECK(get_is(s, "hello", "hello", 5));
	CHECK_INT(os_head(s, "hello", &st), 0);
	CHECK_INT(st.size, 5);
	CHECK(streq(st.etag, etag));
	CHECK(st.mtime_ns > 0);
	CHECK_INT(st.meta.n, 0);
	os_stat_release(&st);

	/* metadata round trip, names lower-cased, replaced on overwrite */
	os_meta_set(&meta, "Mode", "100644");
	os_meta_set(&meta, "uid", "1000");
	os_meta_set(&meta, "odd", "a\nb%c=d");
	CHECK_INT(os_put(s, "dir/meta", "x", 1, &meta, NULL), 0);
	CHECK_INT(os_head(s, "dir/meta", &st), 0);
	CHECK(streq(os_meta_get(&st.meta, "mode"), "100644"));
	CHECK(streq(os_meta_get(&st.meta, "UID"), "1000"));
	CHECK(streq(os_meta_get(&st.meta, "odd"), "a\nb%c=d"));
	CHECK_INT(st.meta.n, 3);
	os_stat_release(&st);
	CHECK_INT(os_put(s, "dir/meta", "yy", 2, NULL, etag2), 0);
	CHECK_INT(os_head(s, "dir/meta", &st), 0);
	CHECK_INT(st.meta.n, 0);
	CHECK_INT(st.size, 2);
	os_stat_release(&st);
	os_meta_release(&meta);

	/* empty object */
	CHECK_INT(os_put(s, "empty", NULL, 0, NULL, etag), 0);
	CHECK(streq(etag, "d41d8cd98f00b204e9800998ecf8427e"));
	CHECK_INT(get_buf(s, "empty", 0, OS_RANGE_TO_END, NULL, &b), 0);
	CHECK_INT(b.len, 0);

	/* missing */
	CHECK_INT(os_head(s, "nope", &st), ENOENT);
	CHECK_INT(get_buf(s, "nope", 0, 1, NULL, &b), ENOENT);
	CHECK_INT(os_head(s, "dir", &st), ENOENT);	/* only a "directory" */
	CHECK_INT(os_head(s, "hello/x", &st), ENOENT);
	buf_release(&b);
}

static void test_ranges(struct objstore *s)
{
	char etag[OS_ETAG_MAX];
	struct buf b = BUF_INIT;

	CHECK_INT(os_put(s, "digits", "0123456789", 10, NULL, etag), 0);
	CHECK_INT(get_buf(s, "digits", 2, 3, NULL, &b), 0);
	CHECK(b.len == 3 && memcmp(b.data, "234", 3) == 0);
	CHECK_INT(get_buf(s, "digits", 7, 100, NULL, &b), 0);	/* clipped */
	CHECK(b.len == 3 && memcmp(b.data, "789", 3) == 0);
	CHECK_INT(get_buf(s, "digits", 9, OS_RANGE_TO_END, NULL, &b), 0);
	CHECK(b.len == 1 && b.data[0] == '9');
	CHECK_INT(get_buf(s, "digits", 10, 1, NULL, &b), EINVAL);
	CHECK_INT(get_buf(s, "digits", 11, OS_RANGE_TO_END, NULL, &b), EINVAL);
	CHECK_INT(get_buf(s, "empty", 1, 1, NULL, &b), EINVAL);
	/* conditional */
	CHECK_INT(get_buf(s, "digits", 0, 2, etag, &b), 0);
	CHECK_INT(get_buf(s, "digits", 0, 2, "0123456789abcdef0123456789abcdef", &b), ESTALE);
	CHECK_INT(os_put(s, "digits", "x", 1, NULL, NULL), 0);
	CHECK_INT(get_buf(s, "digits", 0, 1, etag, &b), ESTALE);
	buf_release(&b);
}

static void test_delete(struct objstore *s)
{
	const char *keys[] = { "d1/a", "d1/b", "d1/sub/c", "missing" };
	struct os_stat st;

	CHECK_INT(os_put(s, "del/a/b/c", "1", 1, NULL, NULL), 0);
	CHECK(exists("b1/del/a/b/c"));
	CHECK_INT(os_delete(s, "del/a/b/c"), 0);
	CHECK(!exists("b1/del"));	/* empty parents pruned */
	CHECK_INT(os_delete(s, "del/a/b/c"), 0);	/* missing is fine */
	CHECK_INT(os_delete(s, "hello/under-a-file"), 0);

	CHECK_INT(os_put(s, "d1/a", "a", 1, NULL, NULL), 0);
	CHECK_INT(os_put(s, "d1/b", "b", 1, NULL, NULL), 0);
	CHECK_INT(os_put(s, "d1/sub/c", "c", 1, NULL, NULL), 0);
	CHECK_INT(os_delete_keys(s, keys, 4), 0);
	CHECK_INT(os_head(s, "d1/a", &st), ENOENT);
	CHECK_INT(os_head(s, "d1/sub/c", &st), ENOENT);
	CHECK(!exists("b1/d1"));
}

static void test_bad_keys(struct objstore *s)
{
	static const char *const bad[] = {
		"../evil", "a/../../evil", "/abs", "a//b", ".", "..", "a/./b", "a/..",
		".lithfs-mpu/x", "a/.lithfs-tmp-1", "/", "//", NULL
	};
	char longkey[OS_KEY_MAX + 2], longseg[300];
	struct os_stat st;
	int i;

	for (i = 0; bad[i]; i++) {
		if (!CHECK_INT(os_put(s, bad[i], "x", 1, NULL, NULL), EINVAL))
			fprintf(stderr, "  key %s\n", bad[i]);
		CHECK_INT(os_head(s, bad[i], &st), EINVAL);
	}
	CHECK(!exists("evil") && !exists("../evil"));
	CHECK_INT(os_put(s, "", "x", 1, NULL, NULL), EINVAL);
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	CHECK_INT(os_put(s, longkey, "x", 1, NULL, NULL), ENAMETOOLONG);
	memset(longseg, 's', sizeof(longseg) - 1);
	longseg[sizeof(longseg) - 1] = '\0';
	CHECK_INT(os_put(s, longseg, "x", 1, NULL, NULL), ENAMETOOLONG);

	/* collisions between a file and a "directory" */
	CHECK_INT(os_put(s, "x", "x", 1, NULL, NULL), 0);
	CHECK_INT(os_put(s, "x/y", "y", 1, NULL, NULL), EEXIST);
	CHECK_INT(os_put(s, "x/", NULL, 0, NULL, NULL), EEXIST);
	CHECK_INT(os_put(s, "p/q", "q", 1, NULL, NULL), 0);
	CHECK_INT(os_put(s, "p", "p", 1, NULL, NULL), EEXIST);
	CHECK(get_is(s, "x", "x", 1) && get_is(s, "p/q", "q", 1));
	CHECK_INT(os_copy(s, "x", "p", NULL, NULL), EEXIST);

	CHECK_INT(os_delete(s, "x"), 0);
	CHECK_INT(os_delete(s, "p/q"), 0);
}

/* Symlinks placed in the bucket lead nowhere outside it. */
static void test_symlinks(struct objstore *s)
{
	char link[PATH_MAX * 2], target[PATH_MAX * 2], line[16] = "";
	struct os_stat st;
	FILE *f;

	snprintf(target, sizeof(target), "%s/outside", tmpdir);
	mkdir(target, 0777);
	write_file("outside/secret", "secret");
	snprintf(link, sizeof(link), "%s/b1/link", tmpdir);
	CHECK_INT(symlink(target, link), 0);
	snprintf(link, sizeof(link), "%s/b1/flink", tmpdir);
	snprintf(target, sizeof(target), "%s/outside/secret", tmpdir);
	CHECK_INT(symlink(target, link), 0);
	CHECK_INT(os_put(s, "link/x", "x", 1, NULL, NULL), EEXIST);
	CHECK(!exists("outside/x"));
	CHECK_INT(os_head(s, "link/secret", &st), ENOENT);
	CHECK_INT(os_head(s, "flink", &st), ENOENT);
	check_list(s, "flink", NULL, 0, "");	/* links are not objects */
	check_list(s, "link", NULL, 0, "");
	CHECK_INT(os_put(s, "flink", "new", 3, NULL, NULL), 0);	/* replaces the link */
	CHECK(get_is(s, "flink", "new", 3));
	f = fopen(target, "r");
	CHECK(f && fgets(line, sizeof(line), f) && strcmp(line, "secret") == 0);
	if (f)
		fclose(f);
	CHECK_INT(os_delete(s, "flink"), 0);
	snprintf(link, sizeof(link), "%s/b1/link", tmpdir);
	unlink(link);
}

static void test_markers(struct objstore *s)
{
	char etag[OS_ETAG_MAX];
	struct os_meta meta = { NULL, 0 };
	struct os_stat st;

	os_meta_set(&meta, "mode", "40755");
	CHECK_INT(os_put(s, "m/", NULL, 0, &meta, etag), 0);
	CHECK(streq(etag, "d41d8cd98f00b204e9800998ecf8427e"));
	CHECK_INT(os_head(s, "m/", &st), 0);
	CHECK_INT(st.size, 0);
	CHECK(streq(os_meta_get(&st.meta, "mode"), "40755"));
	os_stat_release(&st);
	CHECK(get_is(s, "m/", "", 0));
	CHECK_INT(os_put(s, "m/", "data", 4, NULL, NULL), EINVAL);
	CHECK_INT(os_put(s, "m", "x", 1, NULL, NULL), EEXIST);
	CHECK_INT(os_put(s, "m/f", "f", 1, NULL, NULL), 0);
	check_list(s, "m", NULL, 0, "m/ m/f");
	CHECK_INT(os_delete(s, "m/f"), 0);
	CHECK(exists("b1/m"));	/* the marker keeps it */
	check_list(s, "m", NULL, 0, "m/");
	CHECK_INT(os_delete(s, "m/"), 0);
	CHECK(!exists("b1/m"));
	CHECK_INT(os_head(s, "m/", &st), ENOENT);
	/* an implicit directory is no marker */
	CHECK_INT(os_put(s, "imp/f", "f", 1, NULL, NULL), 0);
	CHECK_INT(os_head(s, "imp/", &st), ENOENT);
	CHECK_INT(os_put(s, "imp/", NULL, 0, NULL, NULL), 0);
	CHECK_INT(os_delete(s, "imp/"), 0);
	CHECK(get_is(s, "imp/f", "f", 1));	/* the marker went, the file stays */
	CHECK_INT(os_delete(s, "imp/f"), 0);
	CHECK(!exists("b1/imp"));
	os_meta_release(&meta);
}

static void test_hand_placed(struct objstore *s)
{
	struct os_stat st;
	char etag[OS_ETAG_MAX];

	write_file("b1/byhand", "one");
	CHECK_INT(os_head(s, "byhand", &st), 0);
	CHECK_INT(st.size, 3);
	memcpy(etag, st.etag, sizeof(etag));
	os_stat_release(&st);
	CHECK(get_is(s, "byhand", "one", 3));
	usleep(20000);
	write_file("b1/byhand", "two");	/* same size, new mtime */
	CHECK_INT(os_head(s, "byhand", &st), 0);
	CHECK(strcmp(st.etag, etag) != 0);
	os_stat_release(&st);
	/* a file the store wrote and a person then changed */
	CHECK_INT(os_put(s, "changed", "abc", 3, NULL, etag), 0);
	usleep(20000);
	write_file("b1/changed", "xyz");
	CHECK_INT(os_head(s, "changed", &st), 0);
	CHECK(strcmp(st.etag, etag) != 0);
	os_stat_release(&st);
	CHECK_INT(os_delete(s, "byhand"), 0);
	CHECK_INT(os_delete(s, "changed"), 0);
}

static void test_copy(struct objstore *s)
{
	struct os_meta meta = { NULL, 0 }, meta2 = { NULL, 0 };
	char etag[OS_ETAG_MAX];
	struct os_stat st;

	os_meta_set(&meta, "mode", "100600");
	CHECK_INT(os_put(s, "c/src", "content", 7, &meta, NULL), 0);
	CHECK_INT(os_copy(s, "c/src", "c2/dst", NULL, etag), 0);
	CHECK(get_is(s, "c2/dst", "content", 7));
	CHECK_INT(os_head(s, "c2/dst", &st), 0);
	CHECK(streq(os_meta_get(&st.meta, "mode"), "100600"));
	CHECK(streq(st.etag, etag));
	os_stat_release(&st);
	os_meta_set(&meta2, "mode", "100644");
	CHECK_INT(os_copy(s, "c/src", "c/src", &meta2, NULL), 0);	/* metadata update */
	CHECK_INT(os_head(s, "c/src", &st), 0);
	CHECK(streq(os_meta_get(&st.meta, "mode"), "100644"));
	os_stat_release(&st);
	CHECK(get_is(s, "c/src", "content", 7));
	CHECK_INT(os_copy(s, "c/none", "c/x", NULL, NULL), ENOENT);
	CHECK_INT(os_delete(s, "c/src"), 0);
	CHECK_INT(os_delete(s, "c2/dst"), 0);
	os_meta_release(&meta);
	os_meta_release(&meta2);
}

/* A store that only knows a 6 GiB object and records a multipart copy. */
struct fake {
	struct objstore base;
	size_t batches, deleted, biggest;	/* del_many calls */
	int parts, fail_part;
	uint64_t covered;
	bool in_order, completed, aborted;
};

static int fake_head(struct objstore *s, const char *key, struct os_stat *st)
{
	(void)s;
	(void)key;
	st->size = (6ULL << 30) + 5;
	return 0;
}

static int fake_mpu_create(struct objstore *s, const char *key, const struct os_meta *meta,
			   char **upload_id)
{
	(void)s;
	(void)key;
	(void)meta;
	*upload_id = strdup("id");
	return *upload_id ? 0 : ENOMEM;
}

static int fake_copy_part(struct objstore *s, const char *key, const char *upload_id,
			  int part, const char *src_key, uint64_t off, uint64_t len,
			  char etag_out[OS_ETAG_MAX])
{
	struct fake *f = (struct fake *)s;

	(void)key;
	(void)upload_id;
	(void)src_key;
	if (part == f->fail_part)
		return EIO;
	f->in_order = f->in_order && part == f->parts + 1 && off == f->covered &&
		      len <= OS_COPY_SINGLE_MAX;
	f->parts++;
	f->covered += len;
	snprintf(etag_out, OS_ETAG_MAX, "%032d", part);
	return 0;
}

static int fake_complete(struct objstore *s, const char *key, const char *upload_id,
			 const struct os_part *parts, size_t n, char etag_out[OS_ETAG_MAX])
{
	struct fake *f = (struct fake *)s;

	(void)key;
	(void)upload_id;
	f->completed = (int)n == f->parts && parts[n - 1].number == (int)n;
	snprintf(etag_out, OS_ETAG_MAX, "x-%zu", n);
	return 0;
}

static int fake_abort(struct objstore *s, const char *key, const char *upload_id)
{
	(void)key;
	(void)upload_id;
	((struct fake *)s)->aborted = true;
	return 0;
}

static int fake_del_many(struct objstore *s, const char *const *keys, size_t n)
{
	struct fake *f = (struct fake *)s;

	(void)keys;
	f->batches++;
	f->deleted += n;
	if (n > f->biggest)
		f->biggest = n;
	return 0;
}

static void fake_destroy(struct objstore *s)
{
	(void)s;
}

static const struct objstore_ops fake_ops = {
	.name = "fake",
	.head = fake_head,
	.mpu_create = fake_mpu_create,
	.mpu_copy_part = fake_copy_part,
	.mpu_complete = fake_complete,
	.mpu_abort = fake_abort,
	.del_many = fake_del_many,
	.destroy = fake_destroy,
};

/* Above 5 GiB os_copy copies with a multipart upload of part copies;
 * os_delete_keys sends batches of at most 1000. */
static void test_copy_large(void)
{
	struct fake f = { { &fake_ops, NULL, NULL }, 0, 0, 0, 0, 0, 0, true, false, false };
	const char **keys = calloc(2500, sizeof(*keys));
	char etag[OS_ETAG_MAX];
	size_t i;

	if (!CHECK(keys != NULL))
		return;
	/* os_delete_keys: batches of at most 1000 */
	for (i = 0; i < 2500; i++)
		keys[i] = "k";
	CHECK_INT(os_delete_keys(&f.base, keys, 2500), 0);
	CHECK(f.batches == 3 && f.deleted == 2500 && f.biggest == OS_DELETE_BATCH);
	keys[7] = "";
	CHECK_INT(os_delete_keys(&f.base, keys, 2500), EINVAL);	/* checked first */
	CHECK_INT(f.batches, 3);
	free(keys);

	CHECK_INT(os_copy(&f.base, "big", "copy", NULL, etag), 0);
	CHECK(f.in_order && f.completed && !f.aborted);
	CHECK_INT(f.covered, (6ULL << 30) + 5);
	CHECK_INT(f.parts, 13);	/* 12 parts of 512 MiB and 5 bytes */
	CHECK(streq(etag, "x-13"));
	memset(&f, 0, sizeof(f));
	f.base.ops = &fake_ops;
	f.in_order = true;
	f.fail_part = 3;
	CHECK_INT(os_copy(&f.base, "big", "copy", NULL, etag), EIO);
	CHECK(f.aborted && !f.completed);
}

/* --- listing --- */

static void test_list(struct objstore *s)
{
	static const char *const keys[] = { "a-b", "a/b", "a/c/d", "a0", "b/x", "c", NULL };
	struct os_list_page p;
	char *got;
	int i, pages;

	for (i = 0; keys[i]; i++)
		CHECK_INT(os_put(s, keys[i], keys[i], strlen(keys[i]), NULL, NULL), 0);
	CHECK_INT(os_put(s, "b/", NULL, 0, NULL, NULL), 0);
	/* hidden and empty directories never show */
	{
		char path[PATH_MAX * 2];

		snprintf(path, sizeof(path), "%s/lst/emptydir", tmpdir);
		mkdir(path, 0777);
		snprintf(path, sizeof(path), "%s/lst/a/emptydir", tmpdir);
		mkdir(path, 0777);
	}
	{
		char *id = NULL;

		CHECK_INT(os_mpu_create(s, "zz", NULL, &id), 0);	/* makes .lithfs-mpu */
		CHECK_INT(os_mpu_abort(s, "zz", id), 0);
		free(id);
	}

	check_list(s, NULL, NULL, 0, "a-b a/b a/c/d a0 b/ b/x c");
	got = list_text(s, NULL, NULL, 2, 0, &pages);
	CHECK(streq(got, "a-b a/b a/c/d a0 b/ b/x c"));
	CHECK_INT(pages, 4);
	free(got);
	got = list_text(s, NULL, NULL, 1, 0, &pages);
	CHECK(streq(got, "a-b a/b a/c/d a0 b/ b/x c"));
	CHECK_INT(pages, 7);
	free(got);
	check_list(s, NULL, "/", 0, "a-b [a/] a0 [b/] c");
	got = list_text(s, NULL, "/", 1, 0, &pages);
	CHECK(streq(got, "a-b [a/] a0 [b/] c"));
	CHECK_INT(pages, 5);
	free(got);
	check_list(s, NULL, "/", 2, "a-b [a/] a0 [b/] c");
	check_list(s, "a/", "/", 0, "a/b [a/c/]");
	check_list(s, "a/", "/", 1, "a/b [a/c/]");
	check_list(s, "a", "/", 0, "a-b [a/] a0");
	check_list(s, "a/c", NULL, 0, "a/c/d");
	check_list(s, "b/", NULL, 0, "b/ b/x");
	check_list(s, "b/", "/", 0, "b/ b/x");
	check_list(s, "b", "/", 0, "[b/]");
	check_list(s, "zzz", NULL, 0, "");
	check_list(s, "a/b", NULL, 0, "a/b");
	check_list(s, NULL, "-", 0, "[a-] a/b a/c/d a0 b/ b/x c");
	check_list(s, NULL, "/c", 0, "a-b a/b [a/c] a0 b/ b/x c");
	check_list(s, NULL, "/", 0, "a-b [a/] a0 [b/] c");

	CHECK_INT(os_list(s, NULL, NULL, "bogus", 10, &p), EINVAL);
	CHECK_INT(os_list(s, NULL, NULL, NULL, 1001, &p), EINVAL);
	/* a token past the end: empty last page */
	CHECK_INT(os_list(s, NULL, NULL, "Kzzz", 10, &p), 0);
	CHECK(p.n_entries == 0 && p.n_prefixes == 0 && p.next_token == NULL);
	os_list_page_release(&p);
	/* entries carry size and etag */
	CHECK_INT(os_list(s, "a0", NULL, NULL, 10, &p), 0);
	if (CHECK_INT(p.n_entries, 1)) {
		CHECK_INT(p.entries[0].size, 2);
		CHECK(p.entries[0].mtime_ns > 0);
		CHECK_INT(strlen(p.entries[0].etag), 32);
	}
	os_list_page_release(&p);

	for (i = 0; keys[i]; i++)
		CHECK_INT(os_delete(s, keys[i]), 0);
	CHECK_INT(os_delete(s, "b/"), 0);
}

/* --- multipart uploads --- */

static void fill(char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (char)(seed >> 16);
	}
}

static void test_mpu(struct objstore *s)
{
	size_t big = 5 * MIB + 100;
	struct os_upload_list ul;
	struct os_part parts[3];
	char *data, *id = NULL, *id2 = NULL, etag[OS_ETAG_MAX], want[OS_ETAG_MAX];
	struct os_meta meta = { NULL, 0 };
	struct buf b = BUF_INIT;
	struct os_stat st;

	data = malloc(2 * big);
	if (!CHECK(data != NULL))
		return;
	fill(data, 2 * big, 42);
	os_meta_set(&meta, "mode", "100640");
	CHECK_INT(os_mpu_create(s, "mp/obj", &meta, &id), 0);
	CHECK_INT(os_mpu_create(s, "mp/other", NULL, &id2), 0);
	CHECK_INT(os_mpu_list(s, NULL, &ul), 0);
	CHECK_INT(ul.n, 2);
	if (ul.n == 2) {
		CHECK(streq(ul.uploads[0].key, "mp/obj"));
		CHECK(streq(ul.uploads[0].upload_id, id));
	}
	os_upload_list_release(&ul);
	CHECK_INT(os_mpu_list(s, "mp/o", &ul), 0);
	CHECK_INT(ul.n, 2);
	os_upload_list_release(&ul);
	CHECK_INT(os_mpu_list(s, "mp/x", &ul), 0);
	CHECK_INT(ul.n, 0);
	os_upload_list_release(&ul);

	parts[0].number = 1;
	parts[1].number = 2;
	CHECK_INT(os_mpu_put_part(s, "mp/obj", id, 2, data + big, 1000, parts[1].etag), 0);
	CHECK_INT(os_mpu_put_part(s, "mp/obj", id, 1, data, big, parts[0].etag), 0);
	CHECK_INT(os_mpu_put_part(s, "mp/wrongkey", id, 1, data, 10, etag), ENOENT);
	CHECK_INT(os_mpu_put_part(s, "mp/obj", "0123", 1, data, 10, etag), ENOENT);
	CHECK_INT(os_mpu_put_part(s, "mp/obj", id, 0, data, 10, etag), EINVAL);
	CHECK_INT(os_mpu_put_part(s, "mp/obj", id, 10001, data, 10, etag), EINVAL);
	/* wrong etag, missing part, unordered parts */
	memcpy(&parts[2], &parts[1], sizeof(parts[1]));
	parts[2].etag[0] = parts[2].etag[0] == '0' ? '1' : '0';
	CHECK_INT(os_mpu_complete(s, "mp/obj", id, (struct os_part[]){ parts[0], parts[2] }, 2,
				  etag), EINVAL);
	CHECK_INT(os_mpu_complete(s, "mp/obj", id, (struct os_part[]){ parts[1], parts[0] }, 2,
				  etag), EINVAL);
	parts[2].number = 3;
	CHECK_INT(os_mpu_complete(s, "mp/obj", id, parts, 3, etag), EINVAL);
	CHECK_INT(os_head(s, "mp/obj", &st), ENOENT);	/* nothing published */

	CHECK_INT(os_mpu_complete(s, "mp/obj", id, parts, 2, etag), 0);
	CHECK_INT(os_etag_multipart(parts, 2, want), 0);
	CHECK(streq(etag, want));
	CHECK(strstr(etag, "-2") != NULL);
	CHECK_INT(get_buf(s, "mp/obj", 0, OS_RANGE_TO_END, NULL, &b), 0);
	CHECK(b.len == big + 1000 && memcmp(b.data, data, b.len) == 0);
	CHECK_INT(os_head(s, "mp/obj", &st), 0);
	CHECK(streq(st.etag, etag));
	CHECK(streq(os_meta_get(&st.meta, "mode"), "100640"));
	os_stat_release(&st);
	CHECK_INT(os_mpu_abort(s, "mp/obj", id), ENOENT);	/* gone with complete */
	free(id);

	CHECK_INT(os_mpu_abort(s, "mp/other", id2), 0);
	CHECK_INT(os_mpu_create(s, "mp/dir/", NULL, &id), EINVAL);
	os_meta_release(&meta);
	buf_release(&b);
	free(id2);
	free(data);
}

/* Part sizes, part copies and abort; copies from "mp/obj" of test_mpu. */
static void test_mpu_parts(struct objstore *s)
{
	size_t big = 5 * MIB + 100;
	struct os_part parts[2] = { { 1, "" }, { 2, "" } };
	char *data, *id = NULL, etag[OS_ETAG_MAX];
	struct os_upload_list ul;
	struct buf b = BUF_INIT;
	struct os_stat st;

	data = malloc(2 * big);
	if (!CHECK(data != NULL))
		return;
	fill(data, 2 * big, 42);	/* the bytes of mp/obj */
	/* a first part under 5 MiB is refused, as by S3 */
	CHECK_INT(os_mpu_create(s, "mp/other", NULL, &id), 0);
	CHECK_INT(os_mpu_put_part(s, "mp/other", id, 1, data, 100, parts[0].etag), 0);
	CHECK_INT(os_mpu_put_part(s, "mp/other", id, 2, data, 100, parts[1].etag), 0);
	CHECK_INT(os_mpu_complete(s, "mp/other", id, parts, 2, etag), EINVAL);
	/* part copy from an object range */
	CHECK_INT(os_mpu_copy_part(s, "mp/other", id, 1, "mp/obj", 0, big, parts[0].etag), 0);
	CHECK_INT(os_mpu_copy_part(s, "mp/other", id, 2, "mp/obj", big, 1000, parts[1].etag), 0);
	CHECK_INT(os_mpu_copy_part(s, "mp/other", id, 3, "mp/obj", big, 1001, etag), EINVAL);
	CHECK_INT(os_mpu_complete(s, "mp/other", id, parts, 2, etag), 0);
	CHECK_INT(get_buf(s, "mp/other", 0, OS_RANGE_TO_END, NULL, &b), 0);
	CHECK(b.len == big + 1000 && memcmp(b.data, data, b.len) == 0);
	free(id);

	/* abort leaves nothing */
	CHECK_INT(os_mpu_create(s, "mp/aborted", NULL, &id), 0);
	CHECK_INT(os_mpu_put_part(s, "mp/aborted", id, 1, data, 10, etag), 0);
	CHECK_INT(os_mpu_abort(s, "mp/aborted", id), 0);
	CHECK_INT(os_mpu_list(s, NULL, &ul), 0);
	CHECK_INT(ul.n, 0);
	os_upload_list_release(&ul);
	CHECK_INT(os_head(s, "mp/aborted", &st), ENOENT);
	free(id);

	CHECK_INT(os_delete(s, "mp/obj"), 0);
	CHECK_INT(os_delete(s, "mp/other"), 0);
	CHECK(!exists("b1/mp"));
	buf_release(&b);
	free(data);
}

/* --- the sidecar fallback --- */

static void test_sidecar(void)
{
	struct os_meta meta = { NULL, 0 };
	char etag[OS_ETAG_MAX];
	struct objstore *s;
	struct os_stat st;

	setenv("LITHFS_LOCAL_NOXATTR", "1", 1);
	s = open_bucket("side");
	unsetenv("LITHFS_LOCAL_NOXATTR");
	if (!s)
		return;
	os_meta_set(&meta, "mode", "100644");
	os_meta_set(&meta, "multi", "line\none");
	CHECK_INT(os_put(s, "k/f", "hello", 5, &meta, etag), 0);
	CHECK(streq(etag, "5d41402abc4b2a76b9719d911017c592"));
	CHECK_INT(os_head(s, "k/f", &st), 0);
	CHECK(streq(st.etag, etag));
	CHECK(streq(os_meta_get(&st.meta, "mode"), "100644"));
	CHECK(streq(os_meta_get(&st.meta, "multi"), "line\none"));
	os_stat_release(&st);
	CHECK(exists("side/.lithfs-meta"));
	CHECK_INT(os_put(s, "k/", NULL, 0, &meta, NULL), 0);
	check_list(s, NULL, NULL, 0, "k/ k/f");
	CHECK_INT(os_delete(s, "k/f"), 0);
	check_list(s, NULL, NULL, 0, "k/");
	CHECK_INT(os_delete(s, "k/"), 0);
	check_list(s, NULL, NULL, 0, "");
	CHECK(!exists("side/k"));
	write_file("side/manual", "abc");
	CHECK_INT(os_head(s, "manual", &st), 0);
	CHECK(strcmp(st.etag, "900150983cd24fb0d6963f7d28e17f72") != 0);
	os_stat_release(&st);
	os_meta_release(&meta);
	os_destroy(s);
}

/* --- concurrency: writers and deleters sharing directories --- */

struct worker {
	struct objstore *s;
	int id;
	int errors;
};

static void *writer_main(void *arg)
{
	struct worker *w = arg;
	char key[64], val[16];
	int i, err;

	for (i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "conc/d%d/k%d-%d", i % 3, w->id, i);
		snprintf(val, sizeof(val), "%d", i);
		err = os_put(w->s, key, val, strlen(val), NULL, NULL);
		if (!err && !get_is(w->s, key, val, strlen(val)))
			err = EIO;
		if (!err)
			err = os_delete(w->s, key);
		if (err) {
			fprintf(stderr, "  %s: %s\n", key, strerror(err));
			w->errors++;
		}
	}
	return NULL;
}

static void test_threads(struct objstore *s)
{
	struct worker w[8];
	pthread_t t[8];
	int i, errors = 0;

	for (i = 0; i < 8; i++) {
		w[i].s = s;
		w[i].id = i;
		w[i].errors = 0;
		pthread_create(&t[i], NULL, writer_main, &w[i]);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		errors += w[i].errors;
	}
	CHECK_INT(errors, 0);
	CHECK(!exists("b1/conc"));
}

/* Processes with a store each (no shared lock) writing and pruning the same
 * directories: a directory removed by one under another's put is made
 * again. */
static void test_processes(void)
{
	struct worker w;
	pid_t pids[4];
	int i, status, failed = 0;

	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			w.s = open_bucket("b1");
			w.id = 100 + i;
			w.errors = 0;
			if (w.s)
				writer_main(&w);
			_exit(w.s && w.errors == 0 ? 0 : 1);
		}
	}
	for (i = 0; i < 4; i++)
		if (pids[i] < 0 || waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failed++;
	CHECK_INT(failed, 0);
	CHECK(!exists("b1/conc"));
}

/* --- wrappers: retry(fault(local)) --- */

static struct objstore *stack(const char *bucket, const char *spec, int retries,
			      int budget_ms)
{
	struct os_config cfg;
	struct objstore *s, *f = NULL, *r = NULL;
	char err[256] = "";

	s = open_bucket(bucket);
	if (!s)
		return NULL;
	if (!CHECK_INT(fault_store_create(s, spec, &f, err, sizeof(err)), 0)) {
		fprintf(stderr, "  %s\n", err);
		return NULL;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.retries = retries;
	cfg.retry_budget_ms = budget_ms;
	CHECK_INT(retry_store_create(f, &cfg, &r), 0);
	return r;
}

/* A sink that checks each byte arrives once, in order, against want. */
struct exact {
	const char *want;
	size_t len;
	size_t got;
	bool bad;
};

static int sink_exact(void *arg, const void *data, size_t len)
{
	struct exact *e = arg;

	if (e->got + len > e->len || memcmp(e->want + e->got, data, len) != 0)
		e->bad = true;
	e->got += len;
	return 0;
}

static void flaky_get(struct objstore *r, const char *key, const char *data, size_t size,
		      const char *etag)
{
	struct exact e = { data, size, 0, false };

	CHECK_INT(os_get(r, key, 0, OS_RANGE_TO_END, etag, sink_exact, &e), 0);
	CHECK(!e.bad && e.got == size);
	e.want = data + 1000;
	e.len = size / 2;
	e.got = 0;
	CHECK_INT(os_get(r, key, 1000, size / 2, etag, sink_exact, &e), 0);
	CHECK(!e.bad && e.got == size / 2);
}

static void test_flaky(void)
{
	size_t size = 3 * MIB + 17, i;
	char key[32], etag[OS_ETAG_MAX], *data, *id = NULL;
	struct os_part parts[2];
	struct os_stat st;
	struct objstore *r;
	char *got;

	r = stack("flaky", "rate=0.3,seed=7,kinds=5xx+reset+timeout+truncate+lost,delay_ms=1",
		  40, 60000);
	data = malloc(6 * MIB);
	if (!r || !CHECK(data != NULL))
		goto out;
	fill(data, 6 * MIB, 7);
	CHECK_INT(os_check(r), 0);
	for (i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "f/k%02zu", i);
		CHECK_INT(os_put(r, key, data + i, i * 1000 + 1, NULL, etag), 0);
		CHECK_INT(os_head(r, key, &st), 0);
		CHECK(streq(st.etag, etag));
		CHECK_INT(st.size, i * 1000 + 1);
		os_stat_release(&st);
	}
	got = list_text(r, "f/", NULL, 3, 0, NULL);
	CHECK(streq(got, "f/k00 f/k01 f/k02 f/k03 f/k04 f/k05 f/k06 f/k07 f/k08 f/k09 "
		  "f/k10 f/k11 f/k12 f/k13 f/k14 f/k15 f/k16 f/k17 f/k18 f/k19"));
	free(got);
	got = list_text(r, NULL, "/", 1, 0, NULL);
	CHECK(streq(got, "[f/]"));
	free(got);
	CHECK_INT(os_copy(r, "f/k05", "g/copy", NULL, NULL), 0);
	CHECK_INT(os_head(r, "g/copy", &st), 0);
	CHECK_INT(st.size, 5001);
	os_stat_release(&st);

	/* streaming GETs with truncated bodies resume where they broke */
	CHECK_INT(os_put(r, "big", data, size, NULL, etag), 0);
	for (i = 0; i < 10; i++) {
		flaky_get(r, "big", data, size, NULL);
		flaky_get(r, "big", data, size, etag);
	}

	/* multipart through lost responses */
	CHECK_INT(os_mpu_create(r, "mp", NULL, &id), 0);
	parts[0].number = 1;
	parts[1].number = 2;
	CHECK_INT(os_mpu_put_part(r, "mp", id, 1, data, 5 * MIB, parts[0].etag), 0);
	CHECK_INT(os_mpu_put_part(r, "mp", id, 2, data + 5 * MIB, MIB, parts[1].etag), 0);
	CHECK_INT(os_mpu_complete(r, "mp", id, parts, 2, etag), 0);
	free(id);
	flaky_get(r, "mp", data, 6 * MIB, etag);

	for (i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "f/k%02zu", i);
		CHECK_INT(os_delete(r, key), 0);
	}
	CHECK_INT(os_delete_keys(r, (const char *[]){ "g/copy", "big", "mp" }, 3), 0);
	check_list(r, NULL, NULL, 0, "");
out:
	free(data);
	os_destroy(r);
}

/* Responses lost after the server acted, and bodies cut short, every time
 * the dice say so. */
static void test_lost_and_truncated(void)
{
	char etag[OS_ETAG_MAX], want[OS_ETAG_MAX], *id = NULL, *data;
	struct os_part part = { 1, "" };
	struct objstore *r;
	int i;

	data = malloc(2 * MIB);
	r = stack("lost", "ops=mpu_complete+mpu_abort+put,rate=1,kinds=lost", 3, 60000);
	if (r && data) {
		fill(data, 2 * MIB, 9);
		CHECK_INT(os_mpu_create(r, "k", NULL, &id), 0);
		CHECK_INT(os_mpu_put_part(r, "k", id, 1, data, MIB, part.etag), 0);
		CHECK_INT(os_mpu_complete(r, "k", id, &part, 1, etag), 0);
		CHECK_INT(os_etag_multipart(&part, 1, want), 0);
		CHECK(streq(etag, want));
		CHECK_INT(os_mpu_complete(r, "k", id, &part, 1, etag), ENOENT);
		free(id);
		CHECK_INT(os_put(r, "p", "x", 1, NULL, NULL), EIO);	/* lost every time */
		CHECK(get_is(r, "p", "x", 1));
	}
	os_destroy(r);
	/* connections dropped after the last byte: done, whatever len said */
	r = stack("lost", "ops=get,rate=0.5,kinds=tail,seed=2", 40, 60000);
	if (r && data) {
		struct exact e = { data, MIB, 0, false };

		CHECK_INT(os_put(r, "tail", data, MIB, NULL, etag), 0);
		for (i = 0; i < 10; i++)
			flaky_get(r, "tail", data, MIB, i % 2 ? etag : NULL);
		for (i = 0; i < 6; i++) {	/* a range past the end */
			e.got = 0;
			CHECK_INT(os_get(r, "tail", 0, 2 * MIB, NULL, sink_exact, &e), 0);
			CHECK(!e.bad && e.got == MIB);
		}
	}
	os_destroy(r);
	r = stack("lost", "ops=get,rate=0.7,kinds=truncate,seed=11", 40, 60000);
	if (r && data) {
		CHECK_INT(os_put(r, "big", data, 2 * MIB, NULL, etag), 0);
		for (i = 0; i < 30; i++) {
			flaky_get(r, "big", data, 2 * MIB, NULL);
			flaky_get(r, "big", data, 2 * MIB, etag);
		}
	}
	os_destroy(r);
	free(data);
}

/* A sink that replaces the object once its first bytes arrived. */
struct changer {
	struct objstore *direct;	/* the same bucket without wrappers */
	bool changed;
};

static int sink_change(void *arg, const void *data, size_t len)
{
	struct changer *c = arg;

	(void)data;
	(void)len;
	if (c->changed)
		return 0;
	c->changed = true;
	return os_put(c->direct, "big", "new", 3, NULL, NULL);
}

/* A GET that breaks and resumes never mixes two versions: the resumed part
 * is conditional on the ETag, so a change in between is ESTALE. */
static void test_resume_stale(void)
{
	char etag[OS_ETAG_MAX], *data;
	struct changer c = { NULL, false };
	struct objstore *r;

	data = calloc(1, 2 * MIB);
	r = stack("stale", "ops=get,rate=1,kinds=truncate,seed=3", 40, 60000);
	c.direct = open_bucket("stale");
	if (r && c.direct && data) {
		CHECK_INT(os_put(c.direct, "big", data, 2 * MIB, NULL, etag), 0);
		CHECK_INT(os_get(r, "big", 0, OS_RANGE_TO_END, etag, sink_change, &c), ESTALE);
		CHECK(c.changed);
	}
	os_destroy(c.direct);
	os_destroy(r);
	free(data);
}

/* Without retries, the fault wrapper really fails about rate of the calls. */
static void test_fault_rate(void)
{
	struct objstore *s, *f = NULL;
	struct os_stat st;
	char err[256];
	int i, failed = 0;

	s = open_bucket("rate");
	if (!s || fault_store_create(s, "rate=0.3,seed=3,ops=head,kinds=5xx", &f, err,
				     sizeof(err)))
		return;
	CHECK_INT(os_put(f, "k", "v", 1, NULL, NULL), 0);
	for (i = 0; i < 1000; i++) {
		int e = os_head(f, "k", &st);

		if (e == 0)
			os_stat_release(&st);
		else
			failed += CHECK_INT(e, EAGAIN);
	}
	CHECK(failed > 230 && failed < 370);
	os_destroy(f);
}

static void test_permanent(void)
{
	char etag[OS_ETAG_MAX], *id = NULL, *data;
	struct os_upload_list ul;
	struct os_part part;
	struct os_stat st;
	struct objstore *r;
	struct timespec t0, t1;
	char spec[64];
	int seed;

	/* rate=1 with the default kinds fails every complete, whatever the seed */
	data = calloc(1, MIB);
	for (seed = 1; seed <= 8 && data; seed++) {
		snprintf(spec, sizeof(spec), "ops=mpu_complete,rate=1,seed=%d", seed);
		r = stack("perm", spec, 3, 60000);
		if (!r || !CHECK_INT(os_mpu_create(r, "k", NULL, &id), 0)) {
			os_destroy(r);
			break;
		}
		part.number = 1;
		CHECK_INT(os_mpu_put_part(r, "k", id, 1, data, MIB, part.etag), 0);
		CHECK_INT(os_mpu_complete(r, "k", id, &part, 1, etag), EIO);
		CHECK_INT(os_mpu_abort(r, "k", id), 0);
		CHECK_INT(os_mpu_list(r, NULL, &ul), 0);
		CHECK_INT(ul.n, 0);
		os_upload_list_release(&ul);
		CHECK_INT(os_head(r, "k", &st), ENOENT);	/* permanent errors pass */
		free(id);
		os_destroy(r);
	}
	free(data);

	/* rate=1 with the default kinds fails every GET, even of tiny objects */
	for (seed = 1; seed <= 8; seed++) {
		snprintf(spec, sizeof(spec), "ops=get,rate=1,seed=%d", seed);
		r = stack("perm", spec, 2, 60000);
		CHECK_INT(os_put(r, "one", "1", 1, NULL, NULL), 0);
		CHECK_INT(os_put(r, "none", NULL, 0, NULL, NULL), 0);
		CHECK(!get_is(r, "one", "1", 1));
		CHECK(!get_is(r, "none", "", 0));
		os_destroy(r);
	}

	r = stack("perm", "ops=get,rate=1,kinds=eio", 3, 60000);
	CHECK_INT(os_put(r, "k", "v", 1, NULL, NULL), 0);
	CHECK(r && !get_is(r, "k", "v", 1));
	os_destroy(r);

	/* LIST fails on its second page only */
	r = stack("perm", "ops=list_next,rate=1,kinds=reset", 2, 60000);
	{
		struct os_list_page p;

		CHECK_INT(os_put(r, "k2", "v", 1, NULL, NULL), 0);
		CHECK_INT(os_list(r, NULL, NULL, NULL, 1, &p), 0);
		CHECK(p.n_entries == 1 && p.next_token != NULL);
		if (p.next_token) {
			struct os_list_page p2;

			CHECK_INT(os_list(r, NULL, NULL, p.next_token, 1, &p2), EIO);
		}
		os_list_page_release(&p);
	}
	os_destroy(r);

	/* the time budget ends retries before the count does */
	r = stack("perm", "ops=head,rate=1,kinds=timeout,delay_ms=20", 1000, 200);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(os_head(r, "k", &st), EIO);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(t1.tv_sec - t0.tv_sec < 2);
	os_destroy(r);
}

static void bad_spec(const char *spec, const char *msg)
{
	struct objstore *s, *f = NULL;
	char err[256] = "";

	s = open_bucket("spec");
	if (!s)
		return;
	CHECK_INT(fault_store_create(s, spec, &f, err, sizeof(err)), EINVAL);
	if (!CHECK(strstr(err, "bad fault spec") && strstr(err, msg)))
		fprintf(stderr, "  spec '%s': '%s'\n", spec, err);
	CHECK(f == NULL);
}

static void test_specs(void)
{
	struct objstore *s, *f = NULL;
	char err[256];

	bad_spec("rate=2", "not a number");
	bad_spec("rate=x", "not a number");
	bad_spec("rate=nan", "not a number");
	bad_spec("rate", "KEY=VALUE");
	bad_spec("bogus=1", "unknown key");
	bad_spec("ops=get+frob", "frob");
	bad_spec("kinds=5xx+", "unknown name");
	bad_spec("seed=1.5", "whole number");
	s = open_bucket("spec");
	if (s && CHECK_INT(fault_store_create(s, "rate=0.1,seed=7,ops=get+put+list+mpu,"
					      "kinds=5xx+reset+delay+truncate,delay_ms=200",
					      &f, err, sizeof(err)), 0))
		os_destroy(f);
}

int main(void)
{
	struct objstore *s;
	char tmpl[] = "/tmp/lithfs-test-objstore-XXXXXX";
	char cmd[PATH_MAX + 16];

	log_init("test_objstore", getenv("V") ? LOG_DEBUG : LOG_CRIT);
	setenv("LITHFS_LOCAL_FSYNC", "0", 1);
	setenv("LITHFS_RETRY_BASE_MS", "1", 1);
	if (!mkdtemp(tmpl) || !realpath(tmpl, tmpdir))
		return 1;
	test_create();
	s = open_bucket("b1");
	if (s) {
		test_put_get_head(s);
		test_ranges(s);
		test_delete(s);
		test_bad_keys(s);
		test_symlinks(s);
		test_markers(s);
		test_hand_placed(s);
		test_copy(s);
		test_mpu(s);
		test_mpu_parts(s);
		test_threads(s);
		test_processes();
		os_destroy(s);
	}
	s = open_bucket("lst");
	if (s) {
		test_list(s);
		os_destroy(s);
	}
	test_sidecar();
	test_copy_large();
	test_fault_rate();
	test_flaky();
	test_lost_and_truncated();
	test_resume_stale();
	test_permanent();
	test_specs();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (!check_failures && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return check_exit();
}
