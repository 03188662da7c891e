/*
 * chunk.c - record-aligned byte ranges (see chunk.h for the rules).
 *
 * Invariant kept by chunk_split: `prev` is the last boundary emitted, and the
 * next grid point examined is the first multiple of cs strictly greater than
 * prev, so a long record that swallowed several grid points is read once.
 */
#include "config.h"
#include "exec/chunk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool chunk_enabled(const struct chunk_opts *o)
{
	return o->chunk_size > 0 || o->chunks > 0;
}

uint64_t chunk_nominal_size(const struct chunk_opts *o, uint64_t size)
{
	uint64_t cs = 0;

	if (o->chunks > 0)
		cs = size / o->chunks + (size % o->chunks != 0);
	if (o->chunk_size > cs)
		cs = o->chunk_size;
	if (!chunk_enabled(o))
		cs = size;
	return cs ? cs : 1;
}

/* Finds the first separator at or after `from`; *pos = size when none. */
static int find_sep(const struct chunk_opts *o, uint64_t from, uint64_t size,
		    chunk_read_fn read, void *arg, char *scan, uint64_t *pos)
{
	uint64_t off = from;

	while (off < size) {
		size_t want = CHUNK_SCAN_BYTES, got = 0;
		const char *hit;
		int err;

		if (size - off < want)
			want = (size_t)(size - off);
		err = read(arg, off, scan, want, &got);
		if (err)
			return err;
		if (got == 0)
			break;		/* the file shrank: treat as EOF */
		hit = memchr(scan, o->sep, got);
		if (hit) {
			*pos = off + (uint64_t)(hit - scan);
			return 0;
		}
		off += got;
	}
	*pos = size;
	return 0;
}

static int push(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		uint64_t *nv = realloc(*v, ncap * sizeof(**v));

		if (!nv)
			return ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = x;
	return 0;
}

int chunk_split(const struct chunk_opts *o, uint64_t size, chunk_read_fn read,
		void *arg, uint64_t **bounds, size_t *n)
{
	uint64_t cs = chunk_nominal_size(o, size), prev = 0, *v = NULL;
	size_t nv = 0, cap = 0;
	char *scan = NULL;
	int err;

	err = push(&v, &nv, &cap, 0);
	if (err)
		goto out_free;
	if (!o->bytes && size > cs) {	/* otherwise no boundary is searched */
		scan = malloc(CHUNK_SCAN_BYTES);
		if (!scan) {
			err = ENOMEM;
			goto out_free;
		}
	}
	for (;;) {
		uint64_t g = (prev / cs + 1) * cs, b = g;

		if (g >= size)
			break;
		if (!o->bytes) {
			err = find_sep(o, g - 1, size, read, arg, scan, &b);
			if (err)
				goto out_free;
			b = b < size ? b + 1 : size;
		}
		if (b >= size)
			break;
		err = push(&v, &nv, &cap, b);
		if (err)
			goto out_free;
		prev = b;
	}
	err = push(&v, &nv, &cap, size);
	if (err)
		goto out_free;
	free(scan);
	*bounds = v;
	*n = nv - 1;
	return 0;

out_free:
	free(scan);
	free(v);
	return err;
}
