/*
 * loc_store.c - a location in an object store (placeholder until the store
 * implementation lands): URLs are refused, local paths are not on a mount.
 */
#include "config.h"
#include "exec/loc_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int loc_store_open(const char *spec, bool output, struct loc **out, char *err,
		   size_t errlen)
{
	(void)output;
	(void)out;
	if (strncmp(spec, "s3://", 5) && strncmp(spec, "file://", 7))
		return ENOENT;
	snprintf(err, errlen, "%s: object-store locations are not supported yet", spec);
	return ENOTSUP;
}
