/*
 * chunk.h - splitting one input into byte ranges that respect records.
 *
 * The nominal chunk size cs comes from --chunk-size and/or --chunks (see
 * chunk_nominal_size). Boundaries sit on a fixed grid k*cs, k = 1, 2, ...;
 * in record mode each grid point g moves forward to just past the first
 * separator at or after byte g-1 (so a separator exactly at g-1 keeps the
 * boundary at g). Boundaries that coincide (a record longer than a chunk) are
 * merged, so every chunk is non-empty and every record lies in exactly one
 * chunk. Bytes mode keeps the grid as it is.
 *
 * Because each boundary depends only on its own grid point, finding one reads
 * a little past g-1 (CHUNK_SCAN_BYTES at a time) through the read callback:
 * a pread for local files, a ranged GET for objects.
 */
#ifndef LITHFS_EXEC_CHUNK_H
#define LITHFS_EXEC_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHUNK_SCAN_BYTES (64 * 1024)

/* Reads up to len bytes at off; *got < len only at end of file. 0 or errno. */
typedef int (*chunk_read_fn)(void *arg, uint64_t off, void *buf, size_t len,
			     size_t *got);

struct chunk_opts {
	uint64_t chunk_size;	/* --chunk-size; 0 = not given */
	uint64_t chunks;	/* --chunks; 0 = not given */
	bool bytes;		/* --bytes: raw ranges, no record alignment */
	unsigned char sep;	/* record separator, '\n' by default */
};

/* True when chunking was asked for at all. */
bool chunk_enabled(const struct chunk_opts *o);

/* The grid step for a file of `size` bytes: chunk_size, ceil(size/chunks),
 * or the larger of the two when both are given; size itself (one chunk) when
 * neither is. Never 0. */
uint64_t chunk_nominal_size(const struct chunk_opts *o, uint64_t size);

/* Computes the boundaries of a file of `size` bytes. On success *bounds
 * (caller frees) holds *n + 1 offsets: bounds[0] = 0, bounds[*n] = size,
 * strictly increasing except for an empty file (one chunk [0, 0)).
 * 0, ENOMEM, or the read callback's error. */
int chunk_split(const struct chunk_opts *o, uint64_t size, chunk_read_fn read,
		void *arg, uint64_t **bounds, size_t *n);

#endif
