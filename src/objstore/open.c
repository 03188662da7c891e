/*
 * open.c - os_open(): build the store stack every program uses.
 *
 *   journal?( retry( fault?( s3 | local ) ) )
 *
 * The backend comes from the parsed source; the fault-injection wrapper is
 * added only when cfg->faults or the environment variable LITHFS_FAULTS is
 * set (tests); the retry wrapper is always on top so that injected faults are
 * retried exactly like real ones. Kept apart from source.c because it needs
 * every backend, while parsing needs none.
 *
 * The upload journal (journal.h) sits on top, so it records what the caller
 * sees after retries; its recovery, which runs in every open, aborts through
 * the store under retry (one attempt each, bounded in time). It is left out when LITHFS_JOURNAL_DIR is "off"; a journal directory that
 * cannot be used costs a warning, never the open.
 *
 * Timeouts left 0 in cfg come from the environment, in seconds (decimals
 * allowed): LITHFS_CONNECT_TIMEOUT and LITHFS_IO_TIMEOUT. That is how mapdir,
 * which has no store options of its own, and its Slurm workers (which inherit
 * the environment) get them; mount.lithfs's -o options win over them.
 */
#include "config.h"
#include "objstore/journal.h"
#include "objstore/objstore_impl.h"
#include "objstore/source.h"

#include <errno.h>
#include <math.h>
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

/* *ms = the seconds in environment variable NAME, unless *ms is set already
 * or NAME is unset/empty. 0 or EINVAL with a message. */
static int env_timeout(const char *name, int *ms, char *err, size_t errlen)
{
	const char *v = getenv(name);
	char *end;
	double secs;

	if (*ms > 0 || v == NULL || *v == '\0')
		return 0;
	secs = strtod(v, &end);
	if (*end != '\0' || !isfinite(secs) || secs < 0.001 || secs > 86400) {
		snprintf(err, errlen, "bad %s '%s': expected seconds from 0.001 to 86400", name, v);
		return EINVAL;
	}
	*ms = (int)(secs * 1000 + 0.5);
	return 0;
}

/* Puts the upload journal of os_journal_default_dir() on top of *s;
 * recovery aborts through raw, the store under the retry wrapper. */
static int journal_wrap(struct objstore **s, struct objstore *raw)
{
	char *dir = os_journal_default_dir();
	int rc;

	if (!dir)
		return 0;	/* LITHFS_JOURNAL_DIR=off */
	rc = journal_store_create(*s, raw, dir, s);
	free(dir);
	return rc;
}

int os_open(const struct os_source *src, const struct os_config *cfg,
	    struct objstore **out, char *err, size_t errlen)
{
	static const struct os_config defaults;
	struct os_config c = cfg ? *cfg : defaults;
	struct objstore *s, *raw;
	const char *faults;
	int rc;

	*out = NULL;
	c.bucket = src->bucket;
	rc = env_timeout("LITHFS_CONNECT_TIMEOUT", &c.connect_timeout_ms, err, errlen);
	if (rc == 0)
		rc = env_timeout("LITHFS_IO_TIMEOUT", &c.io_timeout_ms, err, errlen);
	if (rc)
		return rc;
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
	raw = s;
	rc = retry_store_create(s, &c, &s);
	if (rc == 0)
		rc = journal_wrap(&s, raw);
	if (rc)
		snprintf(err, errlen, "cannot set up the store: %s", strerror(rc));
	else
		*out = s;
	return rc;
}
