/*
 * reader.h - read-through access to objects: block cache first, then ranged
 * GETs, with sequential prefetch.
 *
 * struct rd is one engine per (store, cache): it owns a pool of fetch threads
 * and a table of blocks being fetched, so concurrent readers of the same block
 * (in this process) wait on one GET. struct rd_file is one open object
 * version (key + ETag + size); reads on it are served block by block:
 * cache hit -> copy; miss -> fetch (GET of the block range, If-Match ETag),
 * store in the cache, copy. A file detects sequential access and prefetches
 * a window that doubles from 2 blocks up to max_window bytes, fetched by
 * concurrent GETs and paced by the cache's writes; random access fetches the
 * blocks asked for, and a file read at random whose object is at most a
 * quarter of the cache has the whole object warmed into the cache in the
 * background while it is open. Prefetched blocks wait in a bounded in-memory
 * table (mem_limit) and in the cache.
 *
 * Errors: 0 or a positive errno from the store (ESTALE when the object
 * changed under an open file). Threads: rd_* are thread-safe; an rd_file may
 * be read by several threads at once.
 */
#ifndef LITHFS_CACHE_READER_H
#define LITHFS_CACHE_READER_H

#include <stddef.h>
#include <stdint.h>

struct objstore;
struct bcache;
struct rd;
struct rd_file;

struct rd_opts {
	uint32_t block_size;	/* default 1 MiB */
	uint64_t max_window;	/* sequential prefetch window, default 64 MiB */
	int threads;		/* concurrent GETs, default 8 */
	uint64_t mem_limit;	/* prefetched blocks held in memory, default 64 MiB */
};

/* cache may be NULL (no caching). Borrowed: both must outlive the rd. */
int rd_create(struct objstore *s, struct bcache *cache, const struct rd_opts *opts,
	      struct rd **out);
void rd_destroy(struct rd *r);

/* etag and size describe the version to read (from HEAD or LIST). */
int rd_open(struct rd *r, const char *key, const char *etag, uint64_t size,
	    struct rd_file **out);
/* Reads up to len bytes at off into buf; *got < len only at end of object. */
int rd_read(struct rd_file *f, void *buf, uint64_t off, size_t len, size_t *got);
void rd_close(struct rd_file *f);

#endif
