/*
 * test_fs_options.c - the command line of mount.lithfs: layered -o parsing,
 * fstab keys, pass-through to libfuse, unknown options and bad values.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fs/options.h"

/* argv must be writable: copies of the literals. */
static int parse(struct fs_options *o, char *err, size_t errlen, int argc,
		 const char *const *args)
{
	char *argv[16];
	int rc;

	for (int i = 0; i < argc; i++)
		argv[i] = strdup(args[i]);
	memset(o, 0, sizeof(*o));
	rc = fs_options_parse(argc, argv, o, err, errlen);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return rc;
}

static bool has_arg(const struct fs_options *o, const char *s)
{
	for (int i = 0; i < o->fuse_args.argc; i++) {
		if (strstr(o->fuse_args.argv[i], s) != NULL)
			return true;
	}
	return false;
}

int main(void)
{
	struct fs_options o;
	char err[256];

	const char *const a1[] = { "mount.lithfs", "-o", "ro,uid=1001,umask=027,stat_ttl=1.5,"
		       "endpoint=http://127.0.0.1:7480,path_style,allow_other,_netdev,"
		       "x-systemd.automount,noauto,cache_size=1G,block_size=4M",
		       "bkt:/pre", "/mnt" };
	CHECK_INT(parse(&o, err, sizeof(err), 5, a1), 0);
	CHECK_STR(o.source, "bkt:/pre");
	CHECK_STR(o.mountpoint, "/mnt");
	CHECK(o.ro && o.uid_set && o.uid == 1001);
	CHECK_INT(o.file_mode, 0640);
	CHECK_INT(o.dir_mode, 0750);
	CHECK(o.stat_ttl == 1.5);
	CHECK_STR(o.store.endpoint, "http://127.0.0.1:7480");
	CHECK_INT(o.store.addressing, OS_ADDR_PATH);
	CHECK(o.cache_size == 1ULL << 30 && o.rd.block_size == 4u << 20);
	CHECK(has_arg(&o, "allow_other") && has_arg(&o, "ro"));
	CHECK(!has_arg(&o, "_netdev") && !has_arg(&o, "uid=") && !has_arg(&o, "x-systemd"));
	fs_options_release(&o);

	/* mount(8) helper order: options after the positional arguments */
	const char *const a2[] = { "mount.lithfs", "b", "/m", "-o", "rw,defaults", "-n", "-s",
				   "-t", "fuse.lithfs", "-w" };
	CHECK_INT(parse(&o, err, sizeof(err), 10, a2), 0);
	CHECK_STR(o.source, "b");
	CHECK_STR(o.mountpoint, "/m");
	CHECK(!has_arg(&o, "fuse.lithfs"));
	CHECK(!o.ro && !o.foreground);
	fs_options_release(&o);

	const char *const a3[] = { "mount.lithfs", "-o", "bogus=1", "b", "/m" };
	CHECK_INT(parse(&o, err, sizeof(err), 5, a3), EINVAL);
	CHECK(strstr(err, "unknown option 'bogus=1'") != NULL);
	fs_options_release(&o);

	const char *const a4[] = { "mount.lithfs", "-o", "umask=999", "b", "/m" };
	CHECK_INT(parse(&o, err, sizeof(err), 5, a4), EINVAL);
	CHECK(strstr(err, "umask") != NULL);
	fs_options_release(&o);

	const char *const a5[] = { "mount.lithfs", "b" };
	CHECK_INT(parse(&o, err, sizeof(err), 2, a5), EINVAL);
	CHECK(strstr(err, "MOUNTPOINT") != NULL);
	fs_options_release(&o);

	const char *const a6[] = { "mount.lithfs", "-f", "-d", "-o", "part_size=1M", "b", "/m" };
	CHECK_INT(parse(&o, err, sizeof(err), 7, a6), EINVAL);
	CHECK(strstr(err, "part_size") != NULL);
	fs_options_release(&o);

	return check_exit();
}
