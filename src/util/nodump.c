/*
 * nodump.c - util_nodump (nodump.h): one prctl, with an escape hatch.
 */
#include "config.h"
#include "util/nodump.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "util/log.h"

void util_nodump(void)
{
	const char *v = getenv("LITHFS_DUMPABLE");

	if (v && strcmp(v, "1") == 0)
		return;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		log_msg(LOG_DEBUG, "cannot make the process non-dumpable: %s", strerror(errno));
}
