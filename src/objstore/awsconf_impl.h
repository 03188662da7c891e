/*
 * awsconf_impl.h - between the two files that implement awsconf.h, and
 * nothing else: awsconf.c (settings, AWS files, the credentials chain and
 * its refresh) and awsmeta.c (temporary credentials from the metadata
 * services: the ECS container endpoint and EC2 IMDSv2).
 */
#ifndef LITHFS_OBJSTORE_AWSCONF_IMPL_H
#define LITHFS_OBJSTORE_AWSCONF_IMPL_H

#include <sys/types.h>

#include "objstore/awsconf.h"
#include "util/buf.h"

/* --- helpers, in awsconf.c --- */

/* An environment variable; NULL when unset or empty. */
const char *awsconf_env(const char *name);
/* Strips leading and trailing white space in place; returns the start. */
char *awsconf_trim(char *s);
/* Reads a whole regular file (at most 1 MiB) into out and its permission
 * bits into *mode. 0, or ENOENT, EACCES... of open/read, EFBIG, EINVAL (not
 * a regular file). out->data is never NULL on success. */
int awsconf_read_file(const char *path, struct buf *out, mode_t *mode);
/* buf_release() for buffers that held secrets: wipes them first. */
void awsconf_buf_wipe(struct buf *b);

/* --- the metadata services, in awsmeta.c --- */

struct awsmeta;

/* Picks the service the environment names: the container endpoint when
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI is set, else IMDS
 * unless AWS_EC2_METADATA_DISABLED=true. Sends nothing yet. ca_file (may be
 * NULL) is copied. 0, ENOENT (neither applies), EACCES (an untrusted
 * FULL_URI) or ENOMEM, with a message in err. */
int awsmeta_create(const char *ca_file, struct awsmeta **out, char *err, size_t errlen);
/* Fetches fresh credentials into out (owned by the caller). 0; ENOENT when
 * IMDS is unreachable or lists no role (this host is not an EC2 instance
 * with a role); EACCES when the service refused or answered nonsense; EIO
 * when the container endpoint is unreachable. A message in err, never with
 * a secret. One caller at a time. */
int awsmeta_fetch(struct awsmeta *m, struct s3_creds *out, char *err, size_t errlen);
/* "container credentials" or "instance metadata". Static. */
const char *awsmeta_name(const struct awsmeta *m);
void awsmeta_destroy(struct awsmeta *m);

#endif
