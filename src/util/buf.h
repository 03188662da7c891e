/*
 * buf.h - the one growable byte buffer of the project (after git's strbuf).
 *
 * A struct buf owns `data`; after any successful append `data` is
 * NUL-terminated (the NUL is not counted in `len`), so text can be used as a
 * C string. A zeroed struct (BUF_INIT) is a valid empty buffer. Functions
 * return 0 or ENOMEM; on ENOMEM the buffer keeps its previous contents.
 * Not thread-safe: one owner at a time.
 */
#ifndef LITHFS_UTIL_BUF_H
#define LITHFS_UTIL_BUF_H

#include <stddef.h>

struct buf {
	char *data;	/* owned; NULL while empty and never grown */
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
void buf_release(struct buf *b);	/* frees data, back to empty */
void buf_reset(struct buf *b);		/* len = 0, keeps the allocation */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands ownership of the data (never NULL: "" when empty) to the caller, who
 * frees it; the buffer is left empty. Returns NULL only on ENOMEM. */
char *buf_detach(struct buf *b);

#endif
