/*
 * fuzz_options.c - libFuzzer target: mount.lithfs's command line. The input
 * is split at NUL and newline bytes into at most 32 arguments after
 * "mount.lithfs"; fs_options_parse must return 0 or EINVAL with a message,
 * never crash, leak or read out of bounds, and a success must name a source
 * and a mountpoint.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/options.h"

#define MAX_ARGS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *argv[MAX_ARGS + 2], err[512] = "";
	struct fs_options o;
	int argc = 1, rc;
	size_t i, start = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	argv[0] = (char *)"mount.lithfs";
	for (i = 0; i <= size && argc <= MAX_ARGS; i++) {
		if (i < size && text[i] != '\0' && text[i] != '\n')
			continue;
		text[i] = '\0';
		argv[argc++] = text + start;
		start = i + 1;
	}
	argv[argc] = NULL;
	memset(&o, 0, sizeof(o));
	rc = fs_options_parse(argc, argv, &o, err, sizeof(err));
	if (rc != 0 && (rc != EINVAL || err[0] == '\0'))
		abort();	/* the contract: EINVAL and a message */
	if (rc == 0 && !o.show_help && !o.show_version && (!o.source || !o.mountpoint))
		abort();
	fs_options_release(&o);
	free(text);
	return 0;
}
