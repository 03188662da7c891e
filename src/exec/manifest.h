/*
 * manifest.h - what earlier runs into the same OUT completed, for --resume.
 *
 * One line per completed task (and per merged file), appended as soon as the
 * output is published, so a run killed with SIGKILL keeps everything it had
 * finished. A line records the input's identity (size, mtime, ETag), the
 * byte range, and a hash of the command and chunking options: a task is done
 * only when all of them match, so a changed input or command runs again.
 * Local OUT: OUT/.mapdir/manifest, appended in place and flock()ed while
 * open: manifest_open fails with EBUSY (and a one-line message) when another
 * mapdir has it, it never waits. Object-store OUT (not locked): a
 * local file uploaded as OUT/.mapdir/manifest by manifest_close() (a killed
 * run loses its progress there).
 * Not thread-safe: the engine thread owns it.
 */
#ifndef LITHFS_EXEC_MANIFEST_H
#define LITHFS_EXEC_MANIFEST_H

#include <stdbool.h>
#include <stdint.h>

#include "exec/loc.h"

struct manifest;

enum { MANIFEST_TASK = 'T', MANIFEST_MERGED = 'M' };

/* resume: load what is there; otherwise start a new, empty manifest. */
int manifest_open(struct loc *out, uint64_t cmdhash, bool resume, struct manifest **m,
		  char *err, size_t errlen);
bool manifest_has(struct manifest *m, int kind, const struct loc_input *in, uint64_t off,
		  uint64_t len);
int manifest_add(struct manifest *m, int kind, const struct loc_input *in, uint64_t off,
		 uint64_t len);
/* Saves (object store) and frees. NULL is a no-op. */
int manifest_close(struct manifest *m);

/* FNV-1a, to fold the command line into cmdhash. */
uint64_t manifest_hash(uint64_t h, const void *data, size_t len);
#define MANIFEST_HASH_INIT 14695981039346656037ULL

#endif
