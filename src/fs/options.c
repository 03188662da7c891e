/*
 * options.c - the command line of mount.lithfs (see options.h).
 *
 * fuse_opt_parse runs four times over one argument list: the store table,
 * the cache table and the filesystem table each take their own keys (raw
 * strings and flags) and keep everything else; the last pass takes the
 * positional arguments and -f/-d/-h/-V, keeps the keys libfuse understands,
 * drops the fstab-only keys and refuses anything left. The raw values are
 * then validated layer by layer, each with its own messages.
 */
#include "config.h"
#include "fs/options.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/log.h"
#include "util/size.h"

#define RAW(type, field) offsetof(struct type, field)

static const struct fuse_opt store_spec[] = {
	{ "endpoint=%s", RAW(fs_store_raw, endpoint), 0 },
	{ "url=%s", RAW(fs_store_raw, endpoint), 0 },	/* s3fs's name */
	{ "region=%s", RAW(fs_store_raw, region), 0 },
	{ "profile=%s", RAW(fs_store_raw, profile), 0 },
	{ "ca_file=%s", RAW(fs_store_raw, ca_file), 0 },
	{ "passwd_file=%s", RAW(fs_store_raw, passwd_file), 0 },
	{ "max_conns=%s", RAW(fs_store_raw, max_conns), 0 },
	{ "io_timeout=%s", RAW(fs_store_raw, io_timeout), 0 },
	{ "connect_timeout=%s", RAW(fs_store_raw, connect_timeout), 0 },
	{ "path_style", RAW(fs_store_raw, path_style), 1 },
	{ "use_path_request_style", RAW(fs_store_raw, path_style), 1 },	/* s3fs */
	{ "virtual_host", RAW(fs_store_raw, virtual_host), 1 },
	{ "no_sign", RAW(fs_store_raw, no_sign), 1 },
	{ "public_bucket=1", RAW(fs_store_raw, no_sign), 1 },	/* s3fs */
	FUSE_OPT_END
};

static const struct fuse_opt cache_spec[] = {
	{ "cache_dir=%s", RAW(fs_cache_raw, cache_dir), 0 },
	{ "cache_size=%s", RAW(fs_cache_raw, cache_size), 0 },
	{ "block_size=%s", RAW(fs_cache_raw, block_size), 0 },
	{ "no_cache", RAW(fs_cache_raw, no_cache), 1 },
	FUSE_OPT_END
};

enum { KEY_RO = 1 };

static const struct fuse_opt fs_spec[] = {
	{ "uid=%s", RAW(fs_fs_raw, uid), 0 },
	{ "gid=%s", RAW(fs_fs_raw, gid), 0 },
	{ "umask=%s", RAW(fs_fs_raw, umask), 0 },
	{ "file_mode=%s", RAW(fs_fs_raw, file_mode), 0 },
	{ "dir_mode=%s", RAW(fs_fs_raw, dir_mode), 0 },
	{ "stat_ttl=%s", RAW(fs_fs_raw, stat_ttl), 0 },
	{ "neg_ttl=%s", RAW(fs_fs_raw, neg_ttl), 0 },
	{ "part_size=%s", RAW(fs_fs_raw, part_size), 0 },
	{ "upload_mem=%s", RAW(fs_fs_raw, upload_mem), 0 },
	{ "loglevel=%s", RAW(fs_fs_raw, loglevel), 0 },
	{ "staging_dir=%s", RAW(fs_fs_raw, staging_dir), 0 },
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_END
};

enum {
	KEY_FG = 1, KEY_DEBUG, KEY_HELP, KEY_VERSION, KEY_PASS,
};

/* Keys handed to libfuse as they are (mount options and library options). */
static const struct fuse_opt main_spec[] = {
	FUSE_OPT_KEY("-f", KEY_FG),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	/* mount(8) helper flags: sloppy, no mtab, verbose, read-write, the
	 * type ("-t fuse.lithfs") and a namespace */
	FUSE_OPT_KEY("-s", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("-n", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("-v", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("-w", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("-t ", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("-N ", FUSE_OPT_KEY_DISCARD),
	/* libfuse */
	FUSE_OPT_KEY("ro", KEY_PASS),
	FUSE_OPT_KEY("allow_other", KEY_PASS),
	FUSE_OPT_KEY("allow_root", KEY_PASS),
	FUSE_OPT_KEY("default_permissions", KEY_PASS),
	FUSE_OPT_KEY("auto_unmount", KEY_PASS),
	FUSE_OPT_KEY("fsname=", KEY_PASS),
	FUSE_OPT_KEY("subtype=", KEY_PASS),
	FUSE_OPT_KEY("max_read=", KEY_PASS),
	FUSE_OPT_KEY("max_idle_threads=", KEY_PASS),
	FUSE_OPT_KEY("max_threads=", KEY_PASS),
	FUSE_OPT_KEY("kernel_cache", KEY_PASS),
	FUSE_OPT_KEY("nosuid", KEY_PASS),
	FUSE_OPT_KEY("suid", KEY_PASS),
	FUSE_OPT_KEY("nodev", KEY_PASS),
	FUSE_OPT_KEY("dev", KEY_PASS),
	FUSE_OPT_KEY("noexec", KEY_PASS),
	FUSE_OPT_KEY("exec", KEY_PASS),
	FUSE_OPT_KEY("noatime", KEY_PASS),
	FUSE_OPT_KEY("atime", KEY_PASS),
	FUSE_OPT_KEY("relatime", KEY_PASS),
	FUSE_OPT_KEY("norelatime", KEY_PASS),
	FUSE_OPT_KEY("sync", KEY_PASS),
	FUSE_OPT_KEY("async", KEY_PASS),
	FUSE_OPT_KEY("dirsync", KEY_PASS),
	/* fstab and mount(8) keys with no meaning here */
	FUSE_OPT_KEY("rw", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("defaults", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nofail", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("users", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nouser", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("owner", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("group", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nonempty", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("comment=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_END
};

struct parse_ctx {
	struct fs_options *o;
	char *err;
	size_t errlen;
	bool failed;
};

/* Store and cache passes: what the table did not take stays for the next. */
static int keep_others(void *data, const char *arg, int key, struct fuse_args *out)
{
	(void)data;
	(void)arg;
	(void)key;
	(void)out;
	return 1;
}

/* Filesystem pass: "ro" is ours (EROFS) and libfuse's (read-only mount). */
static int fs_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct fs_fs_raw *raw = data;

	(void)arg;
	(void)out;
	if (key == KEY_RO)
		raw->ro = 1;
	return 1;
}

static int fail(struct parse_ctx *c, const char *fmt, const char *what)
{
	if (!c->failed)
		snprintf(c->err, c->errlen, fmt, what);
	c->failed = true;
	return -1;
}

static int main_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct parse_ctx *c = data;
	struct fs_options *o = c->o;

	(void)out;
	switch (key) {
	case KEY_FG:
		o->foreground = true;
		return 0;
	case KEY_DEBUG:
		o->foreground = true;
		o->debug = true;
		return 1;	/* libfuse traces requests */
	case KEY_HELP:
		o->show_help = true;
		return 0;
	case KEY_VERSION:
		o->show_version = true;
		return 0;
	case KEY_PASS:
		return 1;
	case FUSE_OPT_KEY_NONOPT:
		if (o->source == NULL)
			o->source = strdup(arg);
		else if (o->mountpoint == NULL)
			o->mountpoint = strdup(arg);
		else
			return fail(c, "unexpected argument '%s' (usage: mount.lithfs "
				    "[-o OPTIONS] SOURCE MOUNTPOINT)", arg);
		return 0;
	default:
		if (strncmp(arg, "x-", 2) == 0)
			return 0;	/* x-systemd.*, x-gvfs-*...: for other tools */
		if (arg[0] == '-')
			return fail(c, "unknown flag '%s' (see mount.lithfs(8))", arg);
		return fail(c, "unknown option '%s' (see mount.lithfs(8))", arg);
	}
}

static int parse_uint(const char *s, int base, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s == NULL || *s < '0' || *s > '9')
		return EINVAL;
	errno = 0;
	v = strtoul(s, &end, base);
	if (errno != 0 || *end != '\0' || v > max)
		return EINVAL;
	*out = v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0')
		return EINVAL;
	v = strtod(s, &end);
	if (*end != '\0' || !isfinite(v) || v < 0 || v > 86400 * 365)
		return EINVAL;
	*out = v;
	return 0;
}

static int bad_value(char *err, size_t errlen, const char *key, const char *val,
		     const char *expect)
{
	snprintf(err, errlen, "bad value '%s' for option %s: expected %s", val, key, expect);
	return EINVAL;
}

/* *ms = the seconds of option KEY (unless absent); 0 or EINVAL with a message. */
static int timeout_ms(const char *key, const char *val, int *ms, char *err, size_t errlen)
{
	double secs;

	if (val == NULL)
		return 0;
	if (parse_seconds(val, &secs) != 0 || secs < 0.001 || secs > 86400)
		return bad_value(err, errlen, key, val, "seconds from 0.001 to 86400, e.g. 5 or 0.5");
	*ms = (int)(secs * 1000 + 0.5);
	return 0;
}

static int store_validate(struct fs_options *o, char *err, size_t errlen)
{
	struct fs_store_raw *r = &o->store_raw;
	unsigned long v;

	if (r->path_style && r->virtual_host) {
		snprintf(err, errlen, "options path_style and virtual_host exclude each other");
		return EINVAL;
	}
	o->store.endpoint = r->endpoint;
	o->store.region = r->region;
	o->store.profile = r->profile;
	o->store.ca_file = r->ca_file;
	o->store.passwd_file = r->passwd_file;
	o->store.no_sign = r->no_sign != 0;
	o->store.addressing = r->path_style ? OS_ADDR_PATH :
			      r->virtual_host ? OS_ADDR_VIRTUAL : OS_ADDR_AUTO;
	if (r->max_conns != NULL) {
		if (parse_uint(r->max_conns, 10, 1024, &v) != 0 || v == 0)
			return bad_value(err, errlen, "max_conns", r->max_conns,
					 "a number from 1 to 1024");
		o->store.max_conns = (int)v;
	}
	if (timeout_ms("io_timeout", r->io_timeout, &o->store.io_timeout_ms, err, errlen) ||
	    timeout_ms("connect_timeout", r->connect_timeout, &o->store.connect_timeout_ms,
		       err, errlen))
		return EINVAL;
	return 0;
}

static int cache_validate(struct fs_options *o, char *err, size_t errlen)
{
	struct fs_cache_raw *r = &o->cache_raw;
	uint64_t v;

	o->cache_dir = r->cache_dir;
	o->no_cache = r->no_cache != 0;
	if (r->cache_size != NULL) {
		if (util_parse_size(r->cache_size, &v) != 0 || v < (16 << 20))
			return bad_value(err, errlen, "cache_size", r->cache_size,
					 "a size of at least 16M (e.g. 10G)");
		o->cache_size = v;
	}
	if (r->block_size != NULL) {
		if (util_parse_size(r->block_size, &v) != 0 || v < (64 << 10) ||
		    v > (64 << 20) || (v & (v - 1)) != 0)
			return bad_value(err, errlen, "block_size", r->block_size,
					 "a power of two from 64K to 64M");
		o->rd.block_size = (uint32_t)v;
	}
	if (o->store.max_conns > 0)
		o->rd.threads = o->store.max_conns / 2 > 0 ? o->store.max_conns / 2 : 1;
	return 0;
}

static int fs_validate_ids(struct fs_options *o, char *err, size_t errlen)
{
	struct fs_fs_raw *r = &o->fs_raw;
	unsigned long v;

	o->uid = getuid();
	o->gid = getgid();
	if (r->uid != NULL) {
		if (parse_uint(r->uid, 10, UINT_MAX - 1, &v) != 0)
			return bad_value(err, errlen, "uid", r->uid, "a numeric user id");
		o->uid = (uid_t)v;
		o->uid_set = true;
	}
	if (r->gid != NULL) {
		if (parse_uint(r->gid, 10, UINT_MAX - 1, &v) != 0)
			return bad_value(err, errlen, "gid", r->gid, "a numeric group id");
		o->gid = (gid_t)v;
		o->gid_set = true;
	}
	return 0;
}

static int fs_validate_modes(struct fs_options *o, char *err, size_t errlen)
{
	struct fs_fs_raw *r = &o->fs_raw;
	unsigned long v;

	o->umask = 022;
	if (r->umask != NULL) {
		if (parse_uint(r->umask, 8, 0777, &v) != 0)
			return bad_value(err, errlen, "umask", r->umask, "octal, e.g. 027");
		o->umask = (mode_t)v;
	}
	o->file_mode = 0666 & ~o->umask;
	o->dir_mode = 0777 & ~o->umask;
	if (r->file_mode != NULL) {
		if (parse_uint(r->file_mode, 8, 07777, &v) != 0)
			return bad_value(err, errlen, "file_mode", r->file_mode,
					 "octal, e.g. 0644");
		o->file_mode = (mode_t)v;
	}
	if (r->dir_mode != NULL) {
		if (parse_uint(r->dir_mode, 8, 07777, &v) != 0)
			return bad_value(err, errlen, "dir_mode", r->dir_mode,
					 "octal, e.g. 0755");
		o->dir_mode = (mode_t)v;
	}
	return 0;
}

static int fs_validate_io(struct fs_options *o, char *err, size_t errlen)
{
	struct fs_fs_raw *r = &o->fs_raw;
	uint64_t v;

	o->part_size = 16 << 20;
	o->upload_parallel = 4;
	o->upload_mem = 256 << 20;
	if (r->part_size != NULL) {
		if (util_parse_size(r->part_size, &v) != 0 || v < (5 << 20) ||
		    v > (5ULL << 30))
			return bad_value(err, errlen, "part_size", r->part_size,
					 "a size from 5M to 5G");
		o->part_size = (size_t)v;
	}
	if (r->upload_mem != NULL) {
		if (util_parse_size(r->upload_mem, &v) != 0 || v < o->part_size)
			return bad_value(err, errlen, "upload_mem", r->upload_mem,
					 "a size of at least part_size");
		o->upload_mem = v;
	}
	if (o->store.max_conns > 0 && o->store.max_conns < o->upload_parallel)
		o->upload_parallel = o->store.max_conns;
	return 0;
}

static int fs_validate(struct fs_options *o, char *err, size_t errlen)
{
	struct fs_fs_raw *r = &o->fs_raw;
	int rc;

	o->ro = r->ro != 0;
	o->staging_dir = r->staging_dir;
	rc = fs_validate_ids(o, err, errlen);
	if (rc == 0)
		rc = fs_validate_modes(o, err, errlen);
	if (rc == 0)
		rc = fs_validate_io(o, err, errlen);
	if (rc != 0)
		return rc;
	o->stat_ttl = 5;
	o->neg_ttl = 2;
	if (r->stat_ttl != NULL && parse_seconds(r->stat_ttl, &o->stat_ttl) != 0)
		return bad_value(err, errlen, "stat_ttl", r->stat_ttl, "seconds, e.g. 5 or 0.5");
	if (r->neg_ttl != NULL && parse_seconds(r->neg_ttl, &o->neg_ttl) != 0)
		return bad_value(err, errlen, "neg_ttl", r->neg_ttl, "seconds, e.g. 2");
	o->loglevel = o->debug ? LOG_DEBUG : LOG_NOTICE;
	if (r->loglevel != NULL && log_level_parse(r->loglevel, &o->loglevel) != 0)
		return bad_value(err, errlen, "loglevel", r->loglevel,
				 "error, warning, notice, info or debug");
	return 0;
}

static int parse_passes(struct fs_options *o, struct parse_ctx *c)
{
	struct fuse_args *a = &o->fuse_args;

	if (fuse_opt_parse(a, &o->store_raw, store_spec, keep_others) != 0 ||
	    fuse_opt_parse(a, &o->cache_raw, cache_spec, keep_others) != 0 ||
	    fuse_opt_parse(a, &o->fs_raw, fs_spec, fs_proc) != 0 ||
	    fuse_opt_parse(a, c, main_spec, main_proc) != 0) {
		if (!c->failed)
			snprintf(c->err, c->errlen, "cannot parse the options");
		return EINVAL;
	}
	return 0;
}

int fs_options_parse(int argc, char **argv, struct fs_options *o, char *err,
		     size_t errlen)
{
	struct parse_ctx c = { o, err, errlen, false };
	int rc;

	for (int i = 0; i < argc; i++) {
		if (fuse_opt_add_arg(&o->fuse_args, argv[i]) != 0) {
			snprintf(err, errlen, "out of memory");
			return ENOMEM;
		}
	}
	rc = parse_passes(o, &c);
	if (rc != 0)
		return rc;
	if (o->show_help || o->show_version)
		return 0;
	if (o->source == NULL || o->mountpoint == NULL) {
		snprintf(err, errlen, "missing %s (usage: mount.lithfs [-o OPTIONS] "
			 "SOURCE MOUNTPOINT)", o->source == NULL ? "SOURCE" : "MOUNTPOINT");
		return EINVAL;
	}
	rc = store_validate(o, err, errlen);
	if (rc == 0)
		rc = cache_validate(o, err, errlen);
	if (rc == 0)
		rc = fs_validate(o, err, errlen);
	return rc;
}

void fs_options_release(struct fs_options *o)
{
	struct fs_store_raw *s = &o->store_raw;
	struct fs_cache_raw *c = &o->cache_raw;
	struct fs_fs_raw *f = &o->fs_raw;
	char *strs[] = {
		o->source, o->mountpoint,
		s->endpoint, s->region, s->profile, s->ca_file, s->passwd_file, s->max_conns,
		s->io_timeout, s->connect_timeout,
		c->cache_dir, c->cache_size, c->block_size,
		f->uid, f->gid, f->umask, f->file_mode, f->dir_mode, f->stat_ttl,
		f->neg_ttl, f->part_size, f->upload_mem, f->loglevel, f->staging_dir,
	};

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(strs[i]);
	fuse_opt_free_args(&o->fuse_args);
	memset(o, 0, sizeof(*o));
}

void fs_options_usage(const char *prog)
{
	printf("usage: %s [-f] [-d] [-o OPTION[,OPTION...]] SOURCE MOUNTPOINT\n"
	       "\n"
	       "SOURCE: BUCKET, BUCKET:/prefix, s3://BUCKET[/prefix], file:///DIR/BUCKET\n"
	       "\n"
	       "  -f                 stay in the foreground\n"
	       "  -d                 debug: foreground, log every FUSE request\n"
	       "  -o ro              read-only mount\n"
	       "  -o endpoint=URL    S3 endpoint (default: AWS config/environment)\n"
	       "  -o region=R, profile=P, path_style, virtual_host, no_sign,\n"
	       "     ca_file=F, passwd_file=F, max_conns=N\n"
	       "  -o io_timeout=S (30), connect_timeout=S (10)\n"
	       "  -o uid=N, gid=N, umask=M, file_mode=M, dir_mode=M\n"
	       "  -o stat_ttl=S (5), neg_ttl=S (2)\n"
	       "  -o cache_dir=D, cache_size=SIZE, no_cache, block_size=SIZE\n"
	       "  -o part_size=SIZE (16M), upload_mem=SIZE (256M), staging_dir=D\n"
	       "  -o loglevel=error|warning|notice|info|debug\n"
	       "  -o allow_other, allow_root, default_permissions, fsname=N, ...\n"
	       "\n"
	       "See mount.lithfs(8).\n", prog);
}
