/*
 * fuzz_chunk.c - libFuzzer target: mapdir's record-aligned chunk splitter.
 * The input's first bytes pick the chunk size and mode, the rest is the
 * file. Invariants: bounds start at 0, end at the size, strictly increase
 * (one empty chunk for an empty file), and in record mode every chunk but the
 * last ends just after a separator.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exec/chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
	const uint8_t *p;
	size_t n;
};

static int mem_read(void *arg, uint64_t off, void *buf, size_t len, size_t *got)
{
	const struct mem *m = arg;

	if (off >= m->n) {
		*got = 0;
		return 0;
	}
	*got = len < m->n - off ? len : (size_t)(m->n - off);
	memcpy(buf, m->p + off, *got);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chunk_opts o = { 0 };
	struct mem m;
	uint64_t *b = NULL;
	size_t n = 0;

	if (size < 3)
		return 0;
	o.chunk_size = 1 + data[0];
	o.bytes = data[1] & 1;
	o.sep = (data[1] & 2) ? '\n' : data[2];
	m.p = data + 3;
	m.n = size - 3;
	if (chunk_split(&o, m.n, mem_read, &m, &b, &n) != 0)
		return 0;
	if (b[0] != 0 || b[n] != m.n)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (b[i + 1] <= b[i] && m.n != 0)
			abort();
		if (!o.bytes && i + 1 < n && m.p[b[i + 1] - 1] != o.sep)
			abort();
	}
	free(b);
	return 0;
}
