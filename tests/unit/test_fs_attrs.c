/*
 * test_fs_attrs.c - s3fs-compatible metadata <-> attributes (src/fs/attrs.h).
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "fs/attrs.h"
#include "fs/options.h"

static struct fs_options opts(void)
{
	struct fs_options o;

	memset(&o, 0, sizeof(o));
	o.uid = 1000;
	o.gid = 100;
	o.file_mode = 0640;
	o.dir_mode = 0750;
	return o;
}

static void test_time(void)
{
	struct timespec ts;
	char buf[FS_TIME_BUF];
	const char *out = buf;

	CHECK_INT(fs_time_parse("1700000000", &ts), 0);
	CHECK(ts.tv_sec == 1700000000 && ts.tv_nsec == 0);
	CHECK_INT(fs_time_parse("1700000000.250000000", &ts), 0);
	CHECK(ts.tv_nsec == 250000000);
	CHECK_INT(fs_time_parse("1700000000.5", &ts), 0);	/* rclone-style fraction */
	CHECK(ts.tv_nsec == 500000000);
	CHECK_INT(fs_time_parse("abc", &ts), EINVAL);
	CHECK_INT(fs_time_parse("12x", &ts), EINVAL);
	ts.tv_sec = 1700000000;
	ts.tv_nsec = 0;
	fs_time_format(&ts, buf);
	CHECK_STR(out, "1700000000");
	ts.tv_nsec = 5;
	fs_time_format(&ts, buf);
	CHECK_STR(out, "1700000000.000000005");	/* as s3fs writes it */
}

static void test_from_object(void)
{
	struct fs_options o = opts();
	struct os_stat st;
	struct fs_attr a;

	memset(&st, 0, sizeof(st));
	st.size = 42;
	st.mtime_ns = 1600000000LL * 1000000000;
	strcpy(st.etag, "abc");
	fs_attr_from_object(&o, false, &st, &a);	/* no metadata: defaults */
	CHECK_INT(a.mode, S_IFREG | 0640);
	CHECK_INT(a.uid, 1000);
	CHECK_INT(a.mtime.tv_sec, 1600000000);
	CHECK_INT(a.size, 42);
	CHECK(a.meta_known);

	os_meta_set(&st.meta, "mode", "41471");	/* S_IFLNK|0777 from s3fs */
	os_meta_set(&st.meta, "uid", "7");
	os_meta_set(&st.meta, "gid", "8");
	os_meta_set(&st.meta, "mtime", "1700000000.000000123");
	fs_attr_from_object(&o, false, &st, &a);
	CHECK_INT(a.mode, S_IFLNK | 0777);
	CHECK_INT(a.uid, 7);
	CHECK_INT(a.gid, 8);
	CHECK(a.mtime.tv_sec == 1700000000 && a.mtime.tv_nsec == 123);
	CHECK(a.ctime.tv_sec == 1700000000);	/* no ctime: mtime */

	os_meta_set(&st.meta, "mode", "16877");	/* S_IFDIR|0755 on a plain key */
	fs_attr_from_object(&o, false, &st, &a);
	CHECK_INT(a.mode, S_IFREG | 0755);
	fs_attr_from_object(&o, true, &st, &a);	/* on a marker */
	CHECK_INT(a.mode, S_IFDIR | 0755);
	CHECK_INT(a.size, 0);
	os_stat_release(&st);
}

static void test_to_meta(void)
{
	struct fs_options o = opts();
	struct os_meta m = { NULL, 0 };
	struct fs_attr a;
	struct stat st;

	fs_attr_default(&o, S_IFREG, 1700000000LL * 1000000000 + 5, &a);
	a.mode = S_IFREG | 0600;
	a.uid = 12;
	CHECK_INT(fs_attr_to_meta(&a, &m), 0);
	CHECK_STR(os_meta_get(&m, "mode"), "33152");
	CHECK_STR(os_meta_get(&m, "uid"), "12");
	CHECK_STR(os_meta_get(&m, "gid"), "100");
	CHECK_STR(os_meta_get(&m, "mtime"), "1700000000.000000005");
	os_meta_release(&m);

	fs_attr_to_stat(&o, &a, &st);
	CHECK_INT(st.st_uid, 12);
	o.uid_set = true;	/* uid= overrides what is stored */
	fs_attr_to_stat(&o, &a, &st);
	CHECK_INT(st.st_uid, 1000);
}

int main(void)
{
	test_time();
	test_from_object();
	test_to_meta();
	return check_exit();
}
