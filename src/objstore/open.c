/*
 * open.c - os_open(): build the store stack every program uses.
 *
 *   retry( fault?( s3 | local ) )
 *
 * The backend comes from the parsed source; the fault-injection wrapper is
 * added only when cfg->faults or the environment variable LITHFS_FAULTS is
 * set (tests); the retry wrapper is always on top so that injected faults are
 * retried exactly like real ones. Kept apart from source.c because it needs
 * every backend, while parsing needs none.
 */
#include "config.h"
#include "objstore/objstore_impl.h"
#include "objstore/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *fault_spec(const struct os_config *cfg)
{
	const char *env = getenv("LITHFS_FAULTS");

	if (cfg->faults && *cfg->faults)
		return cfg->faults;
	return env && *env ? env : NULL;
}

int os_open(const struct os_source *src, const struct os_config *cfg,
	    struct objstore **out, char *err, size_t errlen)
{
	static const struct os_config defaults;
	struct os_config c = cfg ? *cfg : defaults;
	struct objstore *s;
	const char *faults;
	int rc;

	*out = NULL;
	c.bucket = src->bucket;
	if (src->kind == OS_KIND_LOCAL)
		rc = local_store_create(src->root, src->bucket, &s, err, errlen);
	else
		rc = s3_store_create(src, &c, &s, err, errlen);
	if (rc)
		return rc;
	faults = fault_spec(&c);
	if (faults) {
		rc = fault_store_create(s, faults, &s, err, errlen);
		if (rc)
			return rc;
	}
	rc = retry_store_create(s, &c, out);
	if (rc)
		snprintf(err, errlen, "cannot set up retries: %s", strerror(rc));
	return rc;
}
