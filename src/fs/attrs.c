/*
 * attrs.c - entry attributes <-> s3fs-compatible object metadata (attrs.h).
 * Pure functions: no I/O, no locks.
 */
#include "config.h"
#include "fs/attrs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/options.h"

int64_t fs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct timespec fs_ns_to_ts(int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	if (ts.tv_nsec < 0) {
		ts.tv_sec--;
		ts.tv_nsec += 1000000000;
	}
	return ts;
}

int fs_time_parse(const char *s, struct timespec *ts)
{
	char *end;
	long long sec;
	long nsec = 0;
	long scale = 100000000;

	if (s == NULL || *s == '\0')
		return EINVAL;
	errno = 0;
	sec = strtoll(s, &end, 10);
	if (errno != 0 || end == s)
		return EINVAL;
	if (*end == '.') {
		for (end++; *end >= '0' && *end <= '9'; end++) {
			nsec += (*end - '0') * scale;
			scale /= 10;
		}
	}
	if (*end != '\0')
		return EINVAL;
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = nsec;
	return 0;
}

void fs_time_format(const struct timespec *ts, char buf[FS_TIME_BUF])
{
	if (ts->tv_nsec != 0)
		snprintf(buf, FS_TIME_BUF, "%lld.%09ld", (long long)ts->tv_sec, ts->tv_nsec);
	else
		snprintf(buf, FS_TIME_BUF, "%lld", (long long)ts->tv_sec);
}

void fs_attr_default(const struct fs_options *o, mode_t type, int64_t now_ns,
		     struct fs_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->mode = type | (type == S_IFDIR ? o->dir_mode : o->file_mode);
	a->uid = o->uid;
	a->gid = o->gid;
	a->mtime = a->ctime = a->atime = fs_ns_to_ts(now_ns);
}

static bool meta_ulong(const struct os_meta *m, const char *name, unsigned long *out)
{
	const char *v = os_meta_get(m, name);
	char *end;

	if (v == NULL || *v == '\0')
		return false;
	errno = 0;
	*out = strtoul(v, &end, 0);	/* s3fs writes decimal; base 0 as s3fs reads */
	return errno == 0 && *end == '\0';
}

static void meta_time(const struct os_meta *m, const char *name, struct timespec *ts)
{
	struct timespec t;

	if (fs_time_parse(os_meta_get(m, name), &t) == 0 && t.tv_sec > 0)
		*ts = t;
}

/* The type of an object: a marker is a directory; a key is a regular file
 * unless its stored mode says symlink, fifo, socket or device. */
static mode_t object_mode(mode_t stored, bool dir, mode_t def_perm)
{
	mode_t type = stored & S_IFMT;

	if (dir)
		type = S_IFDIR;
	else if (type == 0 || type == S_IFDIR)
		type = S_IFREG;
	return type | (stored != 0 ? (stored & 07777) : def_perm);
}

void fs_attr_from_object(const struct fs_options *o, bool dir, const struct os_stat *st,
			 struct fs_attr *a)
{
	unsigned long v;
	mode_t def_perm = dir ? o->dir_mode : o->file_mode;

	fs_attr_default(o, dir ? S_IFDIR : S_IFREG, st->mtime_ns, a);
	a->size = dir ? 0 : st->size;
	a->lm_ns = st->mtime_ns;
	snprintf(a->etag, sizeof(a->etag), "%s", st->etag);
	a->has_marker = dir;
	a->meta_known = true;
	if (meta_ulong(&st->meta, "mode", &v))
		a->mode = object_mode((mode_t)v, dir, def_perm);
	if (meta_ulong(&st->meta, "uid", &v))
		a->uid = (uid_t)v;
	if (meta_ulong(&st->meta, "gid", &v))
		a->gid = (gid_t)v;
	meta_time(&st->meta, "mtime", &a->mtime);
	a->ctime = a->atime = a->mtime;
	meta_time(&st->meta, "ctime", &a->ctime);
	meta_time(&st->meta, "atime", &a->atime);
}

void fs_attr_from_entry(const struct fs_options *o, const struct os_list_entry *e,
			struct fs_attr *a)
{
	fs_attr_default(o, S_IFREG, e->mtime_ns, a);
	a->size = e->size;
	a->lm_ns = e->mtime_ns;
	snprintf(a->etag, sizeof(a->etag), "%s", e->etag);
}

int fs_attr_to_meta(const struct fs_attr *a, struct os_meta *m)
{
	char v[FS_TIME_BUF];
	int rc;

	snprintf(v, sizeof(v), "%u", (unsigned)a->mode);
	rc = os_meta_set(m, "mode", v);
	snprintf(v, sizeof(v), "%u", (unsigned)a->uid);
	if (rc == 0)
		rc = os_meta_set(m, "uid", v);
	snprintf(v, sizeof(v), "%u", (unsigned)a->gid);
	if (rc == 0)
		rc = os_meta_set(m, "gid", v);
	fs_time_format(&a->mtime, v);
	if (rc == 0)
		rc = os_meta_set(m, "mtime", v);
	fs_time_format(&a->ctime, v);
	if (rc == 0)
		rc = os_meta_set(m, "ctime", v);
	fs_time_format(&a->atime, v);
	if (rc == 0)
		rc = os_meta_set(m, "atime", v);
	return rc;
}

void fs_attr_to_stat(const struct fs_options *o, const struct fs_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = a->mode;
	st->st_nlink = S_ISDIR(a->mode) ? 2 : 1;
	st->st_uid = o->uid_set ? o->uid : a->uid;
	st->st_gid = o->gid_set ? o->gid : a->gid;
	st->st_size = (off_t)a->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	st->st_mtim = a->mtime;
	st->st_ctim = a->ctime;
	st->st_atim = a->atime;
}
