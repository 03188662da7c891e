/*
 * fuzz_sigv4.c - libFuzzer target: SigV4 URI encoding and canonical query
 * strings on arbitrary bytes. Checks the one invariant a server relies on:
 * encoded output only holds unreserved characters, '%XX' and (for paths) '/'.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objstore/sigv4.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_encoded(const struct buf *b, int keep_slash)
{
	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->data[i];

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
			continue;
		if (c == '/' && keep_slash)
			continue;
		if (c == '%' && i + 2 < b->len + 0 && isxdigit((unsigned char)b->data[i + 1]) &&
		    isxdigit((unsigned char)b->data[i + 2])) {
			i += 2;
			continue;
		}
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b = BUF_INIT;
	struct sigv4_param params[2];
	char *s, *split;

	if (sigv4_uri_encode(&b, (const char *)data, size, true) == 0)
		check_encoded(&b, 1);
	buf_reset(&b);
	if (sigv4_uri_encode(&b, (const char *)data, size, false) == 0)
		check_encoded(&b, 0);
	buf_reset(&b);
	s = malloc(size + 1);
	if (s == NULL)
		goto out_release;
	memcpy(s, data, size);
	s[size] = '\0';
	split = strchr(s, '=');
	if (split)
		*split++ = '\0';
	params[0].name = s;
	params[0].value = split ? split : "";
	params[1].name = "prefix";
	params[1].value = s;
	sigv4_canonical_query(&b, params, 2);
	free(s);
out_release:
	buf_release(&b);
	return 0;
}
