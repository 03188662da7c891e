/*
 * bcache.h - the persistent block cache: one LMDB environment per host and
 * user, shared by every process (mounts, mapdir workers) and kept across
 * mounts.
 *
 * A block is identified by (store id, key, ETag, block size, block index);
 * its value is the block's bytes (the last block of an object may be short).
 * Because the ETag is part of the identity, a changed object can never be
 * served from old blocks; blocks of old ETags simply age out.
 *
 * The cache is best effort: bc_put failures (map full, disk full, read-only
 * directory) are absorbed (evict and retry once, then skip) and counted, never
 * returned to readers. Eviction is LRU-like by last access, trimmed to 90 % of
 * max_bytes when the limit is passed. A cache directory deleted or replaced
 * under a running process is noticed within 0.1 s; from then on its gets
 * miss and its puts are skipped (counted) until it is opened again.
 *
 * Open it after fork()/daemon(): LMDB handles must not cross fork(). A handle
 * is safe to use from many threads.
 * Directory: bc_default_dir() ($XDG_CACHE_HOME/lithfs, ~/.cache/lithfs, or
 * /var/cache/lithfs for root), created 0700, files 0600. A directory that holds
 * something else than a lithfs cache is refused (EINVAL + message); a corrupt
 * environment is rebuilt.
 */
#ifndef LITHFS_CACHE_BCACHE_H
#define LITHFS_CACHE_BCACHE_H

#include <stddef.h>
#include <stdint.h>

struct bcache;

struct bc_stats {
	uint64_t hits, misses;		/* lookups, all processes, since creation */
	uint64_t bytes_hit;		/* bytes served from the cache */
	uint64_t bytes_fetched;		/* bytes stored after a network fetch */
	uint64_t evictions;		/* blocks evicted */
	uint64_t put_failures;		/* puts skipped (full, errors) */
	uint64_t blocks;		/* blocks stored now */
	uint64_t bytes;			/* bytes stored now */
	uint64_t max_bytes;
};

/* Default directory for this user (caller frees). */
char *bc_default_dir(void);
/* max_bytes 0 = default: the limit stored in the cache by the last explicit
 * max_bytes, else (new cache) 10 % of the free space of the directory's file
 * system, between 256 MiB and 16 GiB. An explicit max_bytes is stored, and a
 * cache over it is trimmed at once. 0, or an errno with a message in err. */
int bc_open(const char *dir, uint64_t max_bytes, struct bcache **out, char *err,
	    size_t errlen);
void bc_close(struct bcache *c);

/* Copies the block into buf (cap >= block_size) and sets *len. 0 on a hit,
 * ENOENT on a miss (or any cache problem: reads never fail because of it). */
int bc_get(struct bcache *c, const char *store_id, const char *key, const char *etag,
	   uint32_t block_size, uint64_t index, void *buf, size_t *len);
/* Copies bytes [off, off + n) of the block into buf and sets *block_len to
 * the block's length: a random small read costs a copy of n bytes, not of
 * the block. 0 on a hit, ENOENT on a miss, a range past the block's end, or
 * any cache problem. */
int bc_get_range(struct bcache *c, const char *store_id, const char *key,
		 const char *etag, uint32_t block_size, uint64_t index, size_t off,
		 size_t n, void *buf, size_t *block_len);
/* Stores a block. Best effort: always returns 0 (failures are counted). */
int bc_put(struct bcache *c, const char *store_id, const char *key, const char *etag,
	   uint32_t block_size, uint64_t index, const void *data, size_t len);
/* One block of a bc_put_many batch; pointers are borrowed for the call. */
struct bc_block {
	const char *key, *etag;
	uint64_t index;
	const void *data;
	size_t len;
};
/* Stores n blocks of one store and block size in one write transaction (one
 * fdatasync for the batch, not one per block). Best effort like bc_put:
 * always returns 0. */
int bc_put_many(struct bcache *c, const char *store_id, uint32_t block_size,
		const struct bc_block *blocks, size_t n);
/* True when the block is stored (no copy, not counted as a hit or miss). */
int bc_has(struct bcache *c, const char *store_id, const char *key, const char *etag,
	   uint32_t block_size, uint64_t index);
/* Counts blocks a caller chose not to store (the reader's fill queue was
 * full: the cache's disk could not keep up); they show as put_failures. */
void bc_note_skipped(struct bcache *c, uint64_t blocks);
int bc_get_stats(struct bcache *c, struct bc_stats *out);
/* Drops every block. 0 or EIO. */
int bc_clear(struct bcache *c);

#endif
