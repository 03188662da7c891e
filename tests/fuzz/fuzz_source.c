/*
 * fuzz_source.c - libFuzzer target: what users type as a store (source
 * strings) and the AWS config/credentials INI dialect. A parsed source must
 * format back to a string that parses to the same source; neither parser
 * may crash on any input.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objstore/awsconf.h"
#include "objstore/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_keys(void *arg, const char *section, const char *sub, const char *key,
		      const char *value)
{
	(void)section;
	(void)sub;
	(void)key;
	(void)value;
	(*(int *)arg)++;
	return 0;
}

static int same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void roundtrip(const char *text)
{
	struct os_source src, again;
	char err[256];
	char *fmt;

	if (os_source_parse(text, &src, err, sizeof(err)) != 0)
		return;
	fmt = os_source_format(&src);
	if (fmt == NULL)
		abort();
	if (os_source_parse(fmt, &again, err, sizeof(err)) != 0)
		abort();
	if (src.kind != again.kind || !same(src.root, again.root) ||
	    !same(src.bucket, again.bucket) || !same(src.prefix, again.prefix))
		abort();
	os_source_release(&again);
	os_source_release(&src);
	free(fmt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	int keys = 0, bad_line = 0;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	roundtrip(text);
	ini_parse(text, count_keys, &keys, &bad_line);
	free(text);
	return 0;
}
