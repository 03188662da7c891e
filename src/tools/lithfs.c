/*
 * lithfs.c - the admin command: `lithfs cache stats|clear` and
 * `lithfs uploads list|abort` (uploads.c).
 *
 * It opens the block cache like any other process of the host (the cache is
 * shared, so this works while mounts and mapdir workers use it) and either
 * prints the counters kept in the cache (text or --json) or drops every
 * block. It never creates a cache: a directory without one is reported.
 */
#include "config.h"
#include "cache/bcache.h"
#include "tools/uploads.h"
#include "util/log.h"
#include "util/nodump.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *out)
{
	fprintf(out,
		"usage: lithfs cache stats [--dir DIR] [--json]\n"
		"       lithfs cache clear [--dir DIR]\n"
		"       lithfs uploads list|abort [--older-than DURATION] SOURCE\n"
		"       lithfs --version | --help\n"
		"\n"
		"  cache stats   show the block cache's hits, misses, traffic and size\n"
		"  cache clear   drop every cached block (safe while mounts run)\n"
		"  --dir DIR     cache directory (default: $XDG_CACHE_HOME/lithfs,\n"
		"                ~/.cache/lithfs, /var/cache/lithfs for root)\n"
		"  --json        machine-readable output\n"
		"  uploads       multipart uploads in progress; abort stale ones\n"
		"                (lithfs uploads --help)\n");
}

/* "1.5 GiB" style size into buf. */
static const char *human(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_stats(const char *dir, const struct bc_stats *st, bool json)
{
	uint64_t lookups = st->hits + st->misses;
	double ratio = lookups ? (double)st->hits / (double)lookups : 0;
	char a[32], b[32];

	if (json) {
		printf("{\"dir\": ");
		json_string(dir);
		printf(", \"hits\": %llu, \"misses\": %llu, \"hit_ratio\": %.4f, "
		       "\"bytes_from_cache\": %llu, \"bytes_from_network\": %llu, "
		       "\"evictions\": %llu, \"put_failures\": %llu, \"blocks\": %llu, "
		       "\"bytes\": %llu, \"max_bytes\": %llu}\n",
		       (unsigned long long)st->hits, (unsigned long long)st->misses, ratio,
		       (unsigned long long)st->bytes_hit, (unsigned long long)st->bytes_fetched,
		       (unsigned long long)st->evictions, (unsigned long long)st->put_failures,
		       (unsigned long long)st->blocks, (unsigned long long)st->bytes,
		       (unsigned long long)st->max_bytes);
		return;
	}
	printf("cache:         %s\n", dir);
	printf("hits:          %llu\n", (unsigned long long)st->hits);
	printf("misses:        %llu\n", (unsigned long long)st->misses);
	printf("hit ratio:     %.1f %%\n", ratio * 100);
	printf("from cache:    %s\n", human(st->bytes_hit, a, sizeof(a)));
	printf("from network:  %s\n", human(st->bytes_fetched, a, sizeof(a)));
	printf("evictions:     %llu\n", (unsigned long long)st->evictions);
	printf("put failures:  %llu\n", (unsigned long long)st->put_failures);
	printf("blocks:        %llu\n", (unsigned long long)st->blocks);
	printf("size:          %s / %s (%.1f %%)\n", human(st->bytes, a, sizeof(a)),
	       human(st->max_bytes, b, sizeof(b)),
	       st->max_bytes ? (double)st->bytes * 100 / (double)st->max_bytes : 0.0);
}

/* Runs `cache stats` or `cache clear` on dir. Returns the exit status. */
static int cache_cmd(const char *cmd, const char *dir, bool json)
{
	char marker[4096], err[512] = "";
	struct bcache *c = NULL;
	struct bc_stats st;
	int rc;

	snprintf(marker, sizeof(marker), "%s/lithfs-cache", dir);
	if (access(marker, F_OK) != 0) {
		if (!strcmp(cmd, "clear")) {
			printf("no cache at %s: nothing to clear\n", dir);
			return 0;
		}
		fprintf(stderr, "lithfs: no cache at %s (nothing cached yet, or another "
			"--dir)\n", dir);
		return 1;
	}
	rc = bc_open(dir, 0, &c, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "lithfs: %s\n", err);
		return 1;
	}
	if (!strcmp(cmd, "stats")) {
		bc_get_stats(c, &st);
		print_stats(dir, &st, json);
	} else {
		bc_get_stats(c, &st);
		rc = bc_clear(c);
		if (rc)
			fprintf(stderr, "lithfs: clearing the cache in %s failed: %s\n", dir,
				strerror(rc));
		else
			printf("cleared %s: %llu blocks dropped\n", dir,
			       (unsigned long long)st.blocks);
	}
	bc_close(c);
	return rc ? 1 : 0;
}

/* Parses the options after `cache stats|clear`. 0, or an exit status. */
static int parse_opts(int argc, char **argv, const char **dir, bool *json)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 3;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			*dir = optarg;
			break;
		case 'j':
			*json = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || (*json && strcmp(argv[2], "stats"))) {
		fprintf(stderr, "lithfs: unexpected argument %s\n",
			optind < argc ? argv[optind] : "--json");
		usage(stderr);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	char *def = NULL;
	bool json = false;
	int rc;

	log_init("lithfs", LOG_WARNING);
	util_nodump();			/* before any credential is read */
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("lithfs %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "uploads"))
		return tool_uploads_main(argc, argv);
	if (argc < 3 || strcmp(argv[1], "cache") ||
	    (strcmp(argv[2], "stats") && strcmp(argv[2], "clear"))) {
		usage(stderr);
		return 2;
	}
	rc = parse_opts(argc, argv, &dir, &json);
	if (rc)
		return rc;
	if (!dir) {
		def = bc_default_dir();
		if (!def) {
			fprintf(stderr, "lithfs: out of memory\n");
			return 1;
		}
		dir = def;
	}
	rc = cache_cmd(argv[2], dir, json);
	free(def);
	return rc;
}
