/*
 * options.h - the command line of mount.lithfs:
 *   mount.lithfs [-f] [-d] [-o OPT[,OPT...]] SOURCE MOUNTPOINT
 * and the fstab/mount(8) helper form (options after the positional arguments,
 * plus mount's -s -n -v flags, which are accepted and ignored).
 *
 * Each layer parses its own -o keys with its own fuse_opt table, one after
 * the other over the same argument list: the store settings (struct
 * os_config), the cache settings (block cache, reader), the filesystem
 * settings, then the keys passed through to libfuse (allow_other,
 * default_permissions, fsname...) and the fstab keys that are accepted and
 * ignored (_netdev, noauto, nofail, x-systemd.*, user...). Whatever is left is
 * an unknown option: one line on stderr, exit status 1.
 * Values are validated here (numbers, sizes with K/M/G suffixes, octal modes)
 * so a bad value is reported before anything starts.
 */
#ifndef LITHFS_FS_OPTIONS_H
#define LITHFS_FS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <fuse_opt.h>

#include "cache/reader.h"
#include "objstore/source.h"

/* The raw -o values of each layer as fuse_opt stores them (owned strings,
 * flags); validated into the typed fields of struct fs_options. */
struct fs_store_raw {
	char *endpoint, *region, *profile, *ca_file, *passwd_file, *max_conns;
	char *io_timeout, *connect_timeout;
	int path_style, virtual_host, no_sign;
};
struct fs_cache_raw {
	char *cache_dir, *cache_size, *block_size;
	int no_cache;
};
struct fs_fs_raw {
	char *uid, *gid, *umask, *file_mode, *dir_mode, *stat_ttl, *neg_ttl;
	char *part_size, *upload_mem, *loglevel, *staging_dir;
	int ro;
};

struct fs_options {
	char *source;		/* owned; SOURCE */
	char *mountpoint;	/* owned; MOUNTPOINT as given */
	bool foreground;	/* -f (or -d) */
	bool debug;		/* -d: libfuse request trace + loglevel debug */
	bool show_help, show_version;

	/* store layer; its strings are borrowed from store_raw */
	struct fs_store_raw store_raw;
	struct os_config store;

	/* cache layer */
	struct fs_cache_raw cache_raw;
	const char *cache_dir;	/* NULL = bc_default_dir(); borrowed from cache_raw */
	uint64_t cache_size;	/* 0 = the cache's default */
	bool no_cache;
	struct rd_opts rd;

	/* filesystem */
	struct fs_fs_raw fs_raw;
	bool ro;
	bool uid_set, gid_set;	/* uid=/gid= force the owner of every entry */
	uid_t uid;		/* owner of entries without x-amz-meta-uid */
	gid_t gid;
	mode_t umask;		/* removed from the default modes */
	mode_t file_mode;	/* default permission bits of files */
	mode_t dir_mode;	/* default permission bits of directories */
	double stat_ttl;	/* seconds attributes are trusted */
	double neg_ttl;		/* seconds "does not exist" is trusted */
	const char *staging_dir;	/* NULL = CACHE_DIR-staging; borrowed */
	size_t part_size;
	int upload_parallel;
	uint64_t upload_mem;
	int loglevel;

	struct fuse_args fuse_args;	/* what is left for libfuse; owned */
};

/* Parses argv into o (zeroed by the caller first). 0, or EINVAL with a
 * one-line message (without the program name) in err. */
int fs_options_parse(int argc, char **argv, struct fs_options *o, char *err,
		     size_t errlen);
void fs_options_release(struct fs_options *o);
/* Usage text for -h. */
void fs_options_usage(const char *prog);

#endif
