/*
 * uploads.c - `lithfs uploads list|abort SOURCE`: the multipart uploads in
 * progress in a store, and aborting the stale ones.
 *
 * Opening the store (os_open) already aborts the uploads that ended lithfs
 * processes of this host left in the upload journal (journal.h). What remains
 * is either running (a live mount or mapdir worker: its journal record names
 * a live owner) or unknown to the journal: left by another tool, an older
 * lithfs, another host, or a crash in the instant between the server
 * creating an upload and the record being written. `abort` aborts the
 * uploads started more than --older-than ago (24 h by default, like s3fs's
 * -u) and never one whose journal record names a live process.
 */
#include "config.h"
#include "tools/uploads.h"
#include "objstore/journal.h"
#include "objstore/objstore.h"
#include "objstore/source.h"
#include "util/log.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OLDER_THAN_DEFAULT_S (24 * 3600)

/* Uploads of this store that live processes of this host journaled. */
struct live_set {
	const char *store;		/* borrowed: os_id() */
	struct os_journal_rec *recs;	/* owned */
	size_t n;
};

struct uploads_args {
	const char *cmd;		/* "list" or "abort" */
	const char *source;
	const char *endpoint;
	int64_t older_than_s;
};

static void uploads_usage(FILE *out)
{
	fprintf(out,
		"usage: lithfs uploads list [--endpoint URL] SOURCE\n"
		"       lithfs uploads abort [--older-than DURATION] [--endpoint URL] SOURCE\n"
		"\n"
		"  list          multipart uploads in progress under SOURCE (s3://BUCKET[/PREFIX]\n"
		"                or file:///DIR/BUCKET), with their age and owner\n"
		"  abort         abort those started more than DURATION ago (default 24h;\n"
		"                s, m, h, d suffixes; 0s: all), except uploads of running\n"
		"                lithfs processes of this host\n"
		"  --endpoint    S3 endpoint (default: AWS_ENDPOINT_URL, the AWS profile)\n");
}

/* "90", "90s", "15m", "24h", "7d" into seconds. 0 or EINVAL. */
static int parse_duration(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t unit = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || v < 0 || errno || !isdigit((unsigned char)*s))
		return EINVAL;
	if (*end == 'm')
		unit = 60;
	else if (*end == 'h')
		unit = 3600;
	else if (*end == 'd')
		unit = 86400;
	else if (*end != 's' && *end != '\0')
		return EINVAL;
	if (*end && end[1])
		return EINVAL;
	if (v > INT64_MAX / unit / 1000000000)
		return EINVAL;
	*out = v * unit;
	return 0;
}

static int live_add(void *arg, const char *path, const struct os_journal_rec *r)
{
	struct live_set *ls = arg;
	struct os_journal_rec *grown, *c;

	(void)path;
	if (strcmp(r->store, ls->store) != 0 || os_journal_owner_gone(r))
		return 0;
	grown = realloc(ls->recs, (ls->n + 1) * sizeof(*grown));
	if (!grown)
		return ENOMEM;
	ls->recs = grown;
	c = &ls->recs[ls->n];
	memset(c, 0, sizeof(*c));
	c->pid = r->pid;
	c->key = strdup(r->key);
	c->upload_id = strdup(r->upload_id);
	c->host = strdup(r->host);
	ls->n++;
	return c->key && c->upload_id && c->host ? 0 : ENOMEM;
}

static void live_release(struct live_set *ls)
{
	size_t i;

	for (i = 0; i < ls->n; i++)
		os_journal_rec_release(&ls->recs[i]);
	free(ls->recs);
}

/* The record of the live (or not provably gone) process that journaled
 * upload u, or NULL. */
static const struct os_journal_rec *live_owner(const struct live_set *ls,
					       const struct os_upload_ref *u)
{
	size_t i;

	for (i = 0; i < ls->n; i++)
		if (!strcmp(ls->recs[i].upload_id, u->upload_id) && !strcmp(ls->recs[i].key, u->key))
			return &ls->recs[i];
	return NULL;
}

/* A key for one line of output (the last field: it may hold spaces):
 * control bytes and backslashes as \xNN. */
static void print_key(const char *k)
{
	for (; *k; k++) {
		unsigned char c = (unsigned char)*k;

		if (c < 0x20 || c == 0x7f || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static const char *format_time(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	if (ns <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "unknown");
	return buf;
}

/* The owner column: "pid N", "pid N@HOST" for a record of another host
 * (sharing this journal directory: its process cannot be checked here). */
static void print_upload(const struct os_upload_ref *u, const struct os_journal_rec *owner)
{
	char when[32], host[256] = "";

	printf("%s  ", format_time(u->initiated_ns, when, sizeof(when)));
	gethostname(host, sizeof(host) - 1);
	if (owner && strcmp(owner->host, host) != 0)
		printf("pid %ld@%s  ", (long)owner->pid, owner->host);
	else if (owner)
		printf("pid %-7ld  ", (long)owner->pid);
	else
		printf("%-11s  ", "-");
	printf("%s  ", u->upload_id);
	print_key(u->key);
	putchar('\n');
}

/* Aborts the uploads of l started before cutoff_ns that no live process
 * owns. Returns the exit status. */
static int abort_stale(struct objstore *s, const struct os_upload_list *l,
		       const struct live_set *live, int64_t cutoff_ns)
{
	size_t i, aborted = 0, young = 0, running = 0, failed = 0;
	int err;

	for (i = 0; i < l->n; i++) {
		const struct os_upload_ref *u = &l->uploads[i];

		if (live_owner(live, u)) {
			running++;
			continue;
		}
		if (u->initiated_ns > cutoff_ns || (u->initiated_ns == 0 && cutoff_ns < INT64_MAX)) {
			young++;
			continue;
		}
		err = os_mpu_abort(s, u->key, u->upload_id);
		if (err && err != ENOENT) {
			fprintf(stderr, "lithfs: cannot abort the upload of %s (%s): %s\n",
				u->key, u->upload_id, strerror(err));
			failed++;
			continue;
		}
		aborted++;
		printf("aborted  ");
		print_upload(u, NULL);
	}
	printf("%zu aborted, %zu younger than the limit, %zu of running processes, "
	       "%zu failed\n", aborted, young, running, failed);
	return failed ? 1 : 0;
}

static int run(const struct uploads_args *a, struct objstore *s, const char *prefix)
{
	struct live_set live = { os_id(s), NULL, 0 };
	struct os_upload_list l = { 0 };
	char *dir = os_journal_default_dir();
	int64_t cutoff;
	size_t i;
	int err, rc = 0;

	err = dir ? os_journal_scan_store(dir, live.store, live_add, &live) : 0;
	if (err && err != ENOMEM) {
		fprintf(stderr, "lithfs: cannot read the upload journal %s: %s%s\n", dir,
			strerror(err), strcmp(a->cmd, "abort") ? "" :
			" (it protects the uploads of running processes: nothing aborted)");
		if (!strcmp(a->cmd, "abort")) {
			free(dir);
			live_release(&live);
			return 1;
		}
		err = 0;
	}
	free(dir);
	if (!err)
		err = os_mpu_list(s, *prefix ? prefix : NULL, &l);
	if (err) {
		fprintf(stderr, "lithfs: cannot list the uploads of %s: %s\n", os_id(s),
			strerror(err));
		live_release(&live);
		return 1;
	}
	if (!strcmp(a->cmd, "list")) {
		for (i = 0; i < l.n; i++)
			print_upload(&l.uploads[i], live_owner(&live, &l.uploads[i]));
	} else {
		cutoff = a->older_than_s == 0 ? INT64_MAX :
			 (int64_t)time(NULL) * 1000000000 - a->older_than_s * 1000000000;
		rc = abort_stale(s, &l, &live, cutoff);
	}
	os_upload_list_release(&l);
	live_release(&live);
	return rc;
}

/* Parses argv after `uploads list|abort`. 0, or an exit status. */
static int parse_args(int argc, char **argv, struct uploads_args *a)
{
	static const struct option opts[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	a->cmd = argv[2];
	a->older_than_s = OLDER_THAN_DEFAULT_S;
	optind = 3;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'o' && strcmp(a->cmd, "abort") == 0 &&
		    parse_duration(optarg, &a->older_than_s) == 0)
			continue;
		if (c == 'e') {
			a->endpoint = optarg;
			continue;
		}
		if (c == 'h') {
			uploads_usage(stdout);
			exit(0);
		}
		if (c == 'o')
			fprintf(stderr, "lithfs: bad --older-than '%s': expected a duration such "
				"as 30m, 24h or 7d (abort only)\n", optarg);
		uploads_usage(stderr);
		return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "lithfs: uploads %s needs one SOURCE\n", a->cmd);
		uploads_usage(stderr);
		return 2;
	}
	a->source = argv[optind];
	return 0;
}

int tool_uploads_main(int argc, char **argv)
{
	struct uploads_args a = { 0 };
	struct os_config cfg = { 0 };
	struct os_source src;
	struct objstore *s;
	char err[512];
	int rc;

	if (argc == 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
		uploads_usage(stdout);
		return 0;
	}
	if (argc < 3 || (strcmp(argv[2], "list") && strcmp(argv[2], "abort"))) {
		uploads_usage(stderr);
		return 2;
	}
	rc = parse_args(argc, argv, &a);
	if (rc)
		return rc;
	if (os_source_parse(a.source, &src, err, sizeof(err)) != 0) {
		fprintf(stderr, "lithfs: bad source '%s': %s\n", a.source, err);
		return 2;
	}
	log_set_level(LOG_NOTICE);	/* what the journal's recovery did */
	cfg.endpoint = a.endpoint;
	if (os_open(&src, &cfg, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "lithfs: %s\n", err);
		os_source_release(&src);
		return 1;
	}
	rc = run(&a, s, src.prefix);
	os_destroy(s);
	os_source_release(&src);
	return rc;
}
