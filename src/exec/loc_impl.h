/*
 * loc_impl.h - for the implementations of struct loc only (loc_local.c,
 * loc_store.c); users include loc.h. Each implementation embeds struct loc
 * (and struct loc_rfile / loc_wfile) as the first member of its own state.
 */
#ifndef LITHFS_EXEC_LOC_IMPL_H
#define LITHFS_EXEC_LOC_IMPL_H

#include "exec/loc.h"

struct loc_ops {
	const char *name;
	int (*list)(struct loc *l, struct loc_inputs *out, char *err, size_t errlen);
	int (*open_input)(struct loc *l, const struct loc_input *in, struct loc_rfile **out);
	int (*read)(struct loc_rfile *f, uint64_t off, void *buf, size_t len, size_t *got);
	void (*close_input)(struct loc_rfile *f);
	int (*create)(struct loc *l, const char *rel, struct loc_wfile **out);
	int (*publish)(struct loc_wfile *w);
	int (*merge)(struct loc *l, const char *rel, char *const *parts, size_t n);
	int (*remove)(struct loc *l, const char *rel);
	int (*read_all)(struct loc *l, const char *rel, struct buf *out);
	int (*prepare_output)(struct loc *l, char *err, size_t errlen);
	void (*destroy)(struct loc *l);
};

struct loc {
	const struct loc_ops *ops;
	char *name;		/* owned: what the user named */
	char *local;		/* owned: local path, NULL for stores */
	char *id;		/* owned: store id + prefix, or the real path */
	bool single_file;	/* IN named one file: its rel is its basename */
};

struct loc_rfile {
	struct loc *loc;
	int fd;			/* -1 unless local */
};

/* Shared by both implementations: the program writes the local file `path`. */
struct loc_wfile {
	struct loc *loc;
	int fd;
	char *path;		/* owned: the temporary / staging file */
	char *rel;		/* owned: the final name */
};

int loc_local_create(const char *spec, bool output, struct loc **out, char *err,
		     size_t errlen);
/* NULL store support when not built in: ENOTSUP with a message. */
int loc_store_open(const char *spec, bool output, struct loc **out, char *err,
		   size_t errlen);
/* When path lies on a lithfs mount, the store source and key prefix of it,
 * and (root not NULL) the mount point. */
int loc_store_probe_mount(const char *path, char **source, char **key, char **root);

/* What a lithfs mount resolved for its store, read from the root's virtual
 * user.lithfs.endpoint / .region / .addressing xattrs (mount.lithfs(8));
 * fields are NULL when the mount does not show them (a local store, an
 * older mount). Never credentials: those come from this process's own
 * environment and profile. */
struct loc_mount_cfg {
	char *endpoint, *region, *addressing;	/* owned */
	char *profile, *passwd_file;		/* owned: where its credentials */
	bool no_sign;				/* come from, when options said */
};
void loc_mount_cfg_read(const char *root, struct loc_mount_cfg *mc);
void loc_mount_cfg_release(struct loc_mount_cfg *mc);

/* Helpers for implementations. */
int loc_fd_read(int fd, uint64_t off, void *buf, size_t len, size_t *got);
char *loc_future_realpath(const char *spec);	/* realpath of a path to be */
void loc_wfile_free(struct loc_wfile *w);

#endif
