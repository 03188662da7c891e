/*
 * test_chunk.c - property tests of chunk_split over many random files.
 *
 * Files are generated from seeds: random line lengths (including empty lines
 * and lines much longer than a chunk), LF or CRLF endings, with or without a
 * trailing newline, empty files, and random binary data. For each file and
 * several chunk settings the boundaries must partition the file, each chunk
 * but the last must end with the separator, no boundary may fall inside a
 * line, and the result must equal a naive reference scan.
 */
#include "config.h"
#include "exec/chunk.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

struct mem {
	const unsigned char *data;
	uint64_t size;
	uint64_t reads;		/* bytes handed out */
	int fail_at;		/* fail the n-th read (0 = never) */
	int nread;
};

static int mem_read(void *arg, uint64_t off, void *buf, size_t len, size_t *got)
{
	struct mem *m = arg;

	if (m->fail_at && ++m->nread == m->fail_at)
		return EIO;
	if (off > m->size)
		return EINVAL;
	if (len > m->size - off)
		len = (size_t)(m->size - off);
	memcpy(buf, m->data + off, len);
	m->reads += len;
	*got = len;
	return 0;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* kind 0: LF lines, 1: CRLF lines, 2: binary. */
static unsigned char *make_file(uint64_t seed, int kind, uint64_t *size)
{
	uint64_t s = seed * 2654435761u + 1, n = rnd(&s) % 4 == 0 ? rnd(&s) % 8 : rnd(&s) % 200000;
	unsigned char *d = malloc(n + 2);
	uint64_t i = 0;

	while (i < n) {
		uint64_t len = rnd(&s) % 16 == 0 ? rnd(&s) % 50000 : rnd(&s) % 120;

		for (uint64_t k = 0; k < len && i < n; k++)
			d[i++] = kind == 2 ? (unsigned char)rnd(&s) : (unsigned char)('a' + rnd(&s) % 26);
		if (kind == 1 && i < n)
			d[i++] = '\r';
		if (kind != 2 && i < n)
			d[i++] = '\n';
	}
	if (kind != 2 && n > 0 && rnd(&s) % 2)	/* half keep a trailing newline */
		d[n - 1] = 'z';
	*size = n;
	return d;
}

/* The reference: the same grid rule computed by a plain byte scan; returns
 * the sorted, de-duplicated inner boundaries (caller frees). */
static uint64_t *ref_bounds(const unsigned char *d, uint64_t size, uint64_t cs,
			    unsigned char sep, size_t *n)
{
	uint64_t *v = malloc((size / cs + 1) * sizeof(*v)), i = 0;

	*n = 0;
	for (uint64_t g = cs; g < size; g += cs) {
		if (i < g - 1)
			i = g - 1;
		while (i < size && d[i] != sep)
			i++;
		if (i + 1 < size && (*n == 0 || v[*n - 1] != i + 1))
			v[(*n)++] = i + 1;
	}
	return v;
}

static void check_split(const unsigned char *d, uint64_t size, const struct chunk_opts *o)
{
	struct mem m = { .data = d, .size = size };
	uint64_t *b = NULL, *ref, cs = chunk_nominal_size(o, size);
	size_t n = 0, nref;

	if (!CHECK_INT(chunk_split(o, size, mem_read, &m, &b, &n), 0))
		return;
	CHECK(n >= 1);
	CHECK_INT(b[0], 0);
	CHECK_INT(b[n], size);
	for (size_t i = 0; i < n; i++) {
		CHECK(size == 0 || b[i] < b[i + 1]);
		if (o->bytes && i + 1 < n)
			CHECK_INT(b[i + 1] - b[i], cs);
		if (!o->bytes && i + 1 < n)
			CHECK(d[b[i + 1] - 1] == o->sep);	/* ends a record */
	}
	CHECK(n <= size / cs + 1);
	if (!o->bytes) {
		ref = ref_bounds(d, size, cs, o->sep, &nref);
		if (CHECK_INT(nref + 1, n))
			for (size_t i = 0; i < nref; i++)
				CHECK_INT(b[i + 1], ref[i]);
		free(ref);
	}
	free(b);
}

static void test_random_files(void)
{
	static const uint64_t sizes[] = { 1, 7, 100, 4096, 65536, 70000, 1 << 20 };

	for (uint64_t seed = 1; seed <= 120; seed++) {
		int kind = (int)(seed % 3);
		uint64_t size;
		unsigned char *d = make_file(seed, kind, &size);

		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			struct chunk_opts o = { .chunk_size = sizes[k], .sep = '\n',
						.bytes = kind == 2 && k % 2 };

			check_split(d, size, &o);
			o.chunk_size = 0;
			o.chunks = k + 1;
			check_split(d, size, &o);
			o.chunk_size = sizes[k];
			check_split(d, size, &o);
		}
		free(d);
	}
}

static void test_edges(void)
{
	struct chunk_opts o = { .chunk_size = 4, .sep = '\n' };
	const unsigned char *txt = (const unsigned char *)"aaaaaaaaaaaa\nb\nc";
	struct mem m = { .data = txt, .size = 16 };
	uint64_t *b;
	size_t n;

	/* empty file: one empty chunk */
	CHECK_INT(chunk_split(&o, 0, mem_read, &m, &b, &n), 0);
	CHECK_INT(n, 1);
	CHECK_INT(b[0], 0);
	CHECK_INT(b[1], 0);
	free(b);
	/* a record longer than three chunks: merged boundaries */
	CHECK_INT(chunk_split(&o, 16, mem_read, &m, &b, &n), 0);
	CHECK_INT(n, 2);
	CHECK_INT(b[1], 13);
	free(b);
	/* the long line is scanned once, not once per swallowed grid point */
	CHECK(m.reads <= 16 + 4);
	/* no chunking: one chunk */
	o.chunk_size = 0;
	CHECK_INT(chunk_split(&o, 16, mem_read, &m, &b, &n), 0);
	CHECK_INT(n, 1);
	free(b);
	/* a read error is returned, nothing leaks */
	o.chunk_size = 2;
	m.fail_at = 1;
	CHECK_INT(chunk_split(&o, 16, mem_read, &m, &b, &n), EIO);
	/* --chunks and --chunk-size together: the larger step wins */
	o.chunk_size = 10;
	o.chunks = 4;
	CHECK_INT(chunk_nominal_size(&o, 100), 25);
	CHECK_INT(chunk_nominal_size(&o, 20), 10);
}

int main(void)
{
	test_edges();
	test_random_files();
	return check_exit();
}
