/*
 * awsconf_probe.c - drives the credentials chain from the environment, for
 * tests/integ/awsconf-imds.sh.
 *
 * usage: awsconf_probe N
 * Creates a provider (settings and credentials from the AWS_* environment,
 * as a mount would) and prints "created source=SOURCE", then calls
 * creds_get() N times and prints one line per call:
 *   getI key=ACCESS secret=ok|bad token=TOKEN|- expires_in=SECONDS|never source=SOURCE
 * "secret=ok" means the secret key is
 * "secret-for-" + the access key, which is what the test server hands out;
 * the secret itself is never printed. Exit 0, or 2 with the error message
 * on stderr when creating or a creds_get fails.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "objstore/awsconf.h"
#include "util/log.h"

static void print_creds(const char *step, const struct s3_creds *c, const char *source)
{
	char want[256];
	bool ok;

	snprintf(want, sizeof(want), "secret-for-%s", c->access_key ? c->access_key : "");
	ok = c->secret_key && strcmp(c->secret_key, want) == 0;
	printf("%s key=%s secret=%s token=%s ", step, c->access_key ? c->access_key : "-",
	       ok ? "ok" : "bad", c->session_token ? c->session_token : "-");
	if (c->expires)
		printf("expires_in=%lld", (long long)(c->expires - time(NULL)));
	else
		printf("expires_in=never");
	printf(" source=%s\n", source);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct os_config cfg = { 0 };
	struct awsconf conf;
	struct creds_provider *p;
	struct s3_creds c;
	char err[512], step[32];
	int n = argc > 1 ? atoi(argv[1]) : 0;
	int rc;

	log_init("awsconf_probe", LOG_INFO);
	rc = awsconf_resolve(&cfg, &conf, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "awsconf_probe: %s\n", err);
		return 2;
	}
	rc = creds_provider_create(&cfg, &conf, &p, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "awsconf_probe: %s\n", err);
		awsconf_release(&conf);
		return 2;
	}
	printf("created source=%s\n", creds_source(p));
	for (int i = 1; i <= n; i++) {
		rc = creds_get(p, &c);
		if (rc) {
			fprintf(stderr, "awsconf_probe: creds_get: %s\n", strerror(rc));
			break;
		}
		snprintf(step, sizeof(step), "get%d", i);
		print_creds(step, &c, creds_source(p));
		s3_creds_release(&c);
	}
	creds_provider_destroy(p);
	awsconf_release(&conf);
	return rc ? 2 : 0;
}
