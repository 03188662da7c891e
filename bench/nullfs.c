/*
 * nullfs.c - the fastest FUSE server there can be, for bench/fuse-ceiling.sh:
 * one read-only file /zero of SIZE bytes whose reads are answered from a
 * static buffer of zeros, with no lookup, cache or store behind it. What fio
 * measures on it is the cost of the FUSE round trip itself on this machine:
 * the ceiling of any FUSE file system's small-read rate, lithfs's included.
 *
 * usage: nullfs MOUNTPOINT SIZE_BYTES [FUSE options...]   (runs in the foreground,
 * multithreaded like mount.lithfs; unmount with fusermount3 -u)
 */
#define FUSE_USE_VERSION 35
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ZERO_INO 2
#define MAX_READ (1 << 20)

static unsigned long long file_size;
static const char zeros[MAX_READ];

static void fill_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t)file_size;
	}
}

static void nf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	if (parent != FUSE_ROOT_ID || strcmp(name, "zero") != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = ZERO_INO;
	e.attr_timeout = e.entry_timeout = 3600;
	fill_attr(ZERO_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void nf_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	fill_attr(ino, &st);
	fuse_reply_attr(req, &st, 3600);
}

static void nf_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != ZERO_INO)
		fuse_reply_err(req, EISDIR);
	else if ((fi->flags & O_ACCMODE) != O_RDONLY)
		fuse_reply_err(req, EACCES);
	else
		fuse_reply_open(req, fi);
}

static void nf_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	unsigned long long o = (unsigned long long)off;

	(void)ino;
	(void)fi;
	if (o >= file_size)
		size = 0;
	else if (size > file_size - o)
		size = (size_t)(file_size - o);
	if (size > MAX_READ)
		size = MAX_READ;
	fuse_reply_buf(req, zeros, size);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = nf_lookup,
	.getattr = nf_getattr,
	.open = nf_open,
	.read = nf_read,
};

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config lc = { .clone_fd = 0, .max_idle_threads = 16 };
	struct fuse_session *se;
	char *end;
	int rc = 1;

	if (argc < 3 || (file_size = strtoull(argv[2], &end, 10), *end != '\0')) {
		fprintf(stderr, "usage: nullfs MOUNTPOINT SIZE_BYTES [FUSE options...]\n");
		return 2;
	}
	fuse_opt_add_arg(&args, argv[0]);
	for (int i = 3; i < argc; i++)
		fuse_opt_add_arg(&args, argv[i]);
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (se && fuse_set_signal_handlers(se) == 0) {
		if (fuse_session_mount(se, argv[1]) == 0) {
			rc = fuse_session_loop_mt(se, &lc) != 0;
			fuse_session_unmount(se);
		}
		fuse_remove_signal_handlers(se);
	}
	if (se)
		fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	return rc;
}
