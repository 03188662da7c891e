/*
 * awsconf.h - AWS configuration and credentials, resolved the way the AWS SDKs
 * do it, for the S3 backend.
 *
 * Settings (awsconf_resolve): explicit option > environment (AWS_ENDPOINT_URL_S3,
 * AWS_ENDPOINT_URL, AWS_REGION, AWS_DEFAULT_REGION, AWS_PROFILE) > the profile
 * in AWS_CONFIG_FILE (~/.aws/config, sections "[default]" / "[profile NAME]",
 * keys region, endpoint_url, and "s3 =" sub-section keys endpoint_url and
 * addressing_style) > defaults (us-east-1, AWS endpoint).
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true ignores the endpoints of the
 * environment and the profile (not the option).
 *
 * Credentials (creds_provider), first that yields a key wins:
 *   1. no_sign -> anonymous (unsigned requests)
 *   2. passwd_file (s3fs format ACCESS:SECRET or BUCKET:ACCESS:SECRET; refused
 *      unless mode 0600 or stricter)
 *   3. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (skipped
 *      when cfg->profile is given, like the AWS CLI's --profile)
 *   4. the profile in AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials), then in
 *      the config file (aws_access_key_id, aws_secret_access_key,
 *      aws_session_token); a credentials file readable by group/others is
 *      refused with a message
 *   5. ECS container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI /
 *      _FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN)
 *   6. EC2 IMDSv2 (token PUT then role GET at 169.254.169.254, or
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT, or [fd00:ec2::254] with
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6; disabled by
 *      AWS_EC2_METADATA_DISABLED=true; 1 s connect timeout, so a host that is
 *      not on EC2 falls through quickly)
 * Temporary credentials (5, 6) are refreshed 5 minutes before they expire.
 * Secrets are never logged.
 *
 * Parsing is separate from I/O so it can be unit tested: ini_parse() reads
 * the INI dialect of the AWS files (comments '#' ';', "key = value",
 * indented sub-keys after "s3 =", malformed lines reported with their number).
 */
#ifndef LITHFS_OBJSTORE_AWSCONF_H
#define LITHFS_OBJSTORE_AWSCONF_H

#include <stdbool.h>
#include <stdint.h>

#include "objstore/source.h"

/* Effective settings of one S3 store. All strings owned. */
struct awsconf {
	char *endpoint;		/* scheme://host[:port], no trailing slash */
	char *region;
	char *profile;
	enum os_addressing addressing;	/* resolved: PATH or VIRTUAL */
	bool endpoint_is_aws;
};

/* 0, or EINVAL with a message (e.g. bad endpoint URL, profile not found when
 * named explicitly). */
int awsconf_resolve(const struct os_config *cfg, struct awsconf *out, char *err,
		    size_t errlen);
void awsconf_release(struct awsconf *c);

struct s3_creds {
	char *access_key;	/* owned; NULL = anonymous (do not sign) */
	char *secret_key;	/* owned */
	char *session_token;	/* owned; NULL if none */
	int64_t expires;	/* unix time; 0 = never */
};
void s3_creds_release(struct s3_creds *c);

struct creds_provider;

/* Finds credentials now (so bad or missing ones are reported before mount).
 * 0, EACCES (none found / file permissions / malformed) with a message. */
int creds_provider_create(const struct os_config *cfg, const struct awsconf *conf,
			  struct creds_provider **out, char *err, size_t errlen);
/* Copies the current credentials into out (refreshing them first if they
 * expire within 5 minutes). Thread-safe. 0, EACCES or EIO. */
int creds_get(struct creds_provider *p, struct s3_creds *out);
/* Describes where the credentials came from ("environment", "profile dev",
 * "imds"...) for log lines. Borrowed. */
const char *creds_source(struct creds_provider *p);
void creds_provider_destroy(struct creds_provider *p);

/* --- INI parsing, exposed for tests --- */
/* Calls fn for each key: section is "default", "profile x", "x"; sub is the
 * sub-section ("s3") or NULL. Returns 0, or EINVAL and sets *bad_line for a
 * malformed line (parsing stops there), or fn's non-zero return. */
typedef int (*ini_fn)(void *arg, const char *section, const char *sub,
		      const char *key, const char *value);
int ini_parse(const char *text, ini_fn fn, void *arg, int *bad_line);

#endif
