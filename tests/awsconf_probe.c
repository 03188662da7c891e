/*
 * awsconf_probe.c - drives the credentials chain and os_open() from the
 * environment, for tests/integ/awsconf-imds.sh and awsconf-rgw.sh.
 *
 * usage: awsconf_probe N
 *        awsconf_probe --threads N
 *        awsconf_probe --open SOURCE [KEY=VALUE...]
 *
 * --open parses SOURCE, opens it with os_open() and calls os_check(), as
 * mount.lithfs does; KEY=VALUE set struct os_config fields: passwd_file,
 * profile, endpoint, region, addressing (path|virtual), no_sign (1). It
 * prints "open ok ID" and exits 0, or prints the error and exits 2.
 *
 * --threads N creates a provider, then N threads call creds_get() at once;
 * prints "threads ok" when every thread got a consistent key/secret pair.
 *
 * With N:
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

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "objstore/awsconf.h"
#include "objstore/objstore.h"
#include "objstore/source.h"
#include "util/log.h"

static bool creds_consistent(const struct s3_creds *c)
{
	char want[256];

	snprintf(want, sizeof(want), "secret-for-%s", c->access_key ? c->access_key : "");
	return c->secret_key && strcmp(c->secret_key, want) == 0;
}

static void print_creds(const char *step, const struct s3_creds *c, const char *source)
{
	printf("%s key=%s secret=%s token=%s ", step, c->access_key ? c->access_key : "-",
	       creds_consistent(c) ? "ok" : "bad", c->session_token ? c->session_token : "-");
	if (c->expires)
		printf("expires_in=%lld", (long long)(c->expires - time(NULL)));
	else
		printf("expires_in=never");
	printf(" source=%s\n", source);
	fflush(stdout);
}

static void *get_once(void *arg)
{
	struct s3_creds c;
	bool ok;

	if (creds_get(arg, &c))
		return (void *)1;
	ok = creds_consistent(&c);
	s3_creds_release(&c);
	return ok ? NULL : (void *)1;
}

/* N threads call creds_get() on one provider at the same time. */
static int threads(struct creds_provider *p, int n)
{
	pthread_t t[64];
	int bad = 0;
	void *r;

	if (n < 1 || n > 64)
		n = 8;
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, get_once, p);
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], &r);
		bad += r != NULL;
	}
	printf("threads %s\n", bad ? "bad" : "ok");
	return bad ? 2 : 0;
}

/* Sets the os_config field named by "KEY=VALUE"; false if unknown. */
static bool set_option(struct os_config *cfg, const char *opt)
{
	const char *v = strchr(opt, '=');
	size_t n = v ? (size_t)(v - opt) : 0;

	if (!v)
		return false;
	v++;
	if (n == 11 && strncmp(opt, "passwd_file", n) == 0)
		cfg->passwd_file = v;
	else if (n == 7 && strncmp(opt, "profile", n) == 0)
		cfg->profile = v;
	else if (n == 8 && strncmp(opt, "endpoint", n) == 0)
		cfg->endpoint = v;
	else if (n == 6 && strncmp(opt, "region", n) == 0)
		cfg->region = v;
	else if (n == 10 && strncmp(opt, "addressing", n) == 0)
		cfg->addressing = strcmp(v, "virtual") == 0 ? OS_ADDR_VIRTUAL : OS_ADDR_PATH;
	else if (n == 7 && strncmp(opt, "no_sign", n) == 0)
		cfg->no_sign = strcmp(v, "1") == 0;
	else
		return false;
	return true;
}

static int open_and_check(int argc, char **argv)
{
	struct os_config cfg = { .retries = 1, .retry_budget_ms = 2000 };
	struct os_source src;
	struct objstore *s;
	char err[512] = "";
	int rc;

	for (int i = 3; i < argc; i++) {
		if (!set_option(&cfg, argv[i])) {
			fprintf(stderr, "awsconf_probe: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	rc = os_source_parse(argv[2], &src, err, sizeof(err));
	if (!rc) {
		rc = os_open(&src, &cfg, &s, err, sizeof(err));
		os_source_release(&src);
	}
	if (rc) {
		fprintf(stderr, "awsconf_probe: %s\n", err);
		return 2;
	}
	rc = os_check(s);
	if (rc)
		fprintf(stderr, "awsconf_probe: check %s: %s\n", os_id(s), strerror(rc));
	else
		printf("open ok %s\n", os_id(s));
	os_destroy(s);
	return rc ? 2 : 0;
}

int main(int argc, char **argv)
{
	struct os_config cfg = { 0 };
	struct awsconf conf;
	struct creds_provider *p;
	struct s3_creds c;
	char err[512], step[32];
	bool threaded = argc > 2 && strcmp(argv[1], "--threads") == 0;
	int n = argc > 1 ? atoi(argv[argc - 1]) : 0;
	int rc;

	log_init("awsconf_probe", LOG_INFO);
	if (argc >= 3 && strcmp(argv[1], "--open") == 0)
		return open_and_check(argc, argv);
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
	if (threaded)
		rc = threads(p, n);
	for (int i = 1; i <= n && !threaded; i++) {
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
