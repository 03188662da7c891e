/*
 * attrs.h - the attributes of one entry of the mount, and how they are stored
 * in object metadata the way s3fs stores them, so both read each other's:
 *
 *   x-amz-meta-mode   decimal st_mode INCLUDING the file type bits
 *                     (33188 = S_IFREG|0644, 41471 = S_IFLNK|0777)
 *   x-amz-meta-uid, x-amz-meta-gid   decimal
 *   x-amz-meta-mtime, -ctime, -atime seconds since the epoch, with ".%09d"
 *                     nanoseconds when not zero ("1700000000.250000000")
 *
 * An object without these headers gets the mount's defaults: the owner from
 * uid=/gid= (else the mounting user), file_mode/dir_mode (from umask), and
 * its Last-Modified as every time. A listing returns no metadata, so an entry
 * seen only in a listing has the defaults (meta_known false) until it is
 * opened or HEADed (see docs/fs.md, "Metadata").
 */
#ifndef LITHFS_FS_ATTRS_H
#define LITHFS_FS_ATTRS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "objstore/objstore.h"

struct fs_options;

struct fs_attr {
	mode_t mode;			/* type and permission bits */
	uid_t uid;
	gid_t gid;
	uint64_t size;
	struct timespec mtime, ctime, atime;
	int64_t lm_ns;			/* the object's Last-Modified; 0: unknown */
	char etag[OS_ETAG_MAX];		/* "" when there is no object */
	bool meta_known;		/* mode/owner/times are real, not defaults */
	bool has_marker;		/* directory: its "dir/" object exists */
};

#define FS_TIME_BUF 32

/* Defaults for an entry of type (S_IFREG, S_IFDIR) without metadata, all
 * times set to now_ns. */
void fs_attr_default(const struct fs_options *o, mode_t type, int64_t now_ns,
		     struct fs_attr *a);
/* From a HEAD result. dir: st is a directory marker. */
void fs_attr_from_object(const struct fs_options *o, bool dir, const struct os_stat *st,
			 struct fs_attr *a);
/* From a listing entry (no metadata: defaults, meta_known false). */
void fs_attr_from_entry(const struct fs_options *o, const struct os_list_entry *e,
			struct fs_attr *a);
/* Sets mode, uid, gid, mtime, ctime, atime in m (other keys are kept).
 * 0 or ENOMEM. */
int fs_attr_to_meta(const struct fs_attr *a, struct os_meta *m);
/* What stat(2) shows; uid=/gid= options override the stored owner. */
void fs_attr_to_stat(const struct fs_options *o, const struct fs_attr *a, struct stat *st);

/* "sec[.frac]" -> ts (a fraction of any length is read as a decimal
 * fraction). 0 or EINVAL. */
int fs_time_parse(const char *s, struct timespec *ts);
void fs_time_format(const struct timespec *ts, char buf[FS_TIME_BUF]);
int64_t fs_now_ns(void);		/* CLOCK_REALTIME */
struct timespec fs_ns_to_ts(int64_t ns);

#endif
