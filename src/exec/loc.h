/*
 * loc.h - where mapdir reads inputs and writes outputs: one interface, two
 * implementations.
 *
 * A struct loc is IN or OUT: a local directory or file (loc_local.c), or a
 * prefix of an object store (loc_store.c: s3:// and file:// URLs, and paths
 * on a lithfs mount, which are read and written through the store directly).
 * Names below a location ("rel") are '/'-separated relative paths without
 * empty, "." or ".." segments.
 *
 * Inputs: loc_list() returns every regular file, sorted by rel. An open input
 * (struct loc_rfile) is read with loc_read() at any offset; a local one also
 * offers a file descriptor so the engine can hand it to the program as stdin
 * or sendfile() from it without copying.
 *
 * Outputs: loc_create() gives a struct loc_wfile whose fd is a local file the
 * program writes directly: a hidden temporary file next to the final name
 * (local) or a staging file (store). loc_publish() makes it visible under its
 * final name atomically (rename, or an upload completed only then);
 * loc_discard() drops it. Nothing ever appears under a final name unless
 * loc_publish() succeeded.
 *
 * Errors: 0 or a positive errno. Threads: a loc may be used from several
 * threads; one rfile/wfile by one thread at a time.
 */
#ifndef LITHFS_EXEC_LOC_H
#define LITHFS_EXEC_LOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct loc;
struct loc_rfile;
struct loc_wfile;

#define LOC_ETAG_MAX 96

struct loc_input {
	char *rel;		/* owned */
	uint64_t size;
	int64_t mtime_ns;
	char etag[LOC_ETAG_MAX];	/* "" for local files */
};

struct loc_inputs {
	struct loc_input *v;	/* owned */
	size_t n;
};
void loc_inputs_release(struct loc_inputs *in);

/* Opens what the user named: a local path, a path on a lithfs mount, or an
 * s3:// or file:// URL. output: OUT, which need not exist yet (nothing is
 * created until loc_prepare_output). 0 or an errno with one line for the
 * user in err. */
int loc_open(const char *spec, bool output, struct loc **out, char *err, size_t errlen);
/* Creates OUT when missing and proves outputs can be written there. */
int loc_prepare_output(struct loc *l, char *err, size_t errlen);
void loc_destroy(struct loc *l);

/* What the user named, for messages (borrowed). */
const char *loc_name(const struct loc *l);
/* The local directory (or file) behind l, or NULL for an object store. */
const char *loc_local_path(const struct loc *l);
/* True when a and b are the same place or one contains the other. */
bool loc_overlaps(const struct loc *a, const struct loc *b);
/* Full name of rel for users and MAPDIR_OUTPUT ("OUT/rel"; caller frees). */
char *loc_full_name(const struct loc *l, const char *rel);
/* The local path of an input (NULL for object stores; caller frees). */
char *loc_input_path(const struct loc *l, const struct loc_input *in);

int loc_list(struct loc *l, struct loc_inputs *out, char *err, size_t errlen);

int loc_open_input(struct loc *l, const struct loc_input *in, struct loc_rfile **out);
/* Up to len bytes at off; *got < len only at the end. */
int loc_read(struct loc_rfile *f, uint64_t off, void *buf, size_t len, size_t *got);
/* A readable local descriptor of the whole input, or -1. Borrowed. */
int loc_rfile_fd(const struct loc_rfile *f);
void loc_close_input(struct loc_rfile *f);

int loc_create(struct loc *l, const char *rel, struct loc_wfile **out);
int loc_wfile_fd(const struct loc_wfile *w);		/* borrowed */
const char *loc_wfile_path(const struct loc_wfile *w);	/* the local file */
/* Makes the output visible as rel; *bytes (may be NULL) gets its size. Frees
 * w in all cases; on error nothing is published. */
int loc_publish(struct loc_wfile *w, uint64_t *bytes);
void loc_discard(struct loc_wfile *w);

/* Concatenates the published outputs parts[0..n) into rel, atomically like
 * loc_publish. The parts stay: the caller removes them (after recording the
 * merge, so an interrupted run can always redo it). */
int loc_merge(struct loc *l, const char *rel, char *const *parts, size_t n);
int loc_remove(struct loc *l, const char *rel);	/* ENOENT is not an error */
/* Reads a whole (small) output into out. ENOENT when absent. */
int loc_read_all(struct loc *l, const char *rel, struct buf *out);

/* Checks rel is a name a location can hold (no empty, ".", ".." segment, no
 * leading '/'). 0 or EINVAL. */
int loc_rel_check(const char *rel);
/* mkdir -p of the local path path[0..upto). 0 or errno. */
int loc_mkdirs(const char *path, size_t upto);

#endif
