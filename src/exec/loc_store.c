/*
 * loc_store.c - a location in an object store: s3://BUCKET[/PREFIX] and
 * file:///DIR/BUCKET URLs, and local paths that lie on a lithfs mount.
 *
 * A mount is recognised from /proc/self/mountinfo (fstype fuse.lithfs; the
 * mount's source field is the canonical source string, see os_source_format),
 * so mapdir talks to the bucket directly: one paged LIST instead of
 * readdir + stat, ranged GETs through the shared LMDB block cache (struct rd)
 * instead of FUSE reads. If the store cannot be opened from here (different
 * credentials, say) mapdir falls back to plain file access through the mount.
 * The mount's source field and root xattrs are written by whoever runs its
 * daemon, and mapdir would act on them with OUR credentials (write outputs
 * to the bucket and endpoint they name): only mounts of our own user or of
 * root (mountinfo's user_id=, set by the kernel/fusermount, not the daemon)
 * are taken as lithfs mounts; others are used as plain directories.
 *
 * Inputs: every key under the prefix except "directory" markers (keys ending
 * in '/'); when nothing is listed and the prefix names one object, that
 * object alone. Outputs are staged in a local temporary file that the
 * program writes, then uploaded by loc_publish with os_upload (multipart for
 * big files, completed only then): a failed or killed task never leaves an
 * object under the final key.
 */
#include "config.h"
#include "exec/loc_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cache/bcache.h"
#include "cache/reader.h"
#include "objstore/objstore.h"
#include "objstore/source.h"
#include "objstore/upload.h"
#include "util/log.h"

#define COPY_BUF (8 << 20)

struct store {
	struct loc base;
	struct objstore *s;		/* owned */
	struct bcache *cache;		/* owned, NULL when it cannot be opened */
	struct rd *rd;			/* owned, created by the first open_input */
	char *prefix;			/* owned: "" or ending in '/' */
	char *single_key;		/* owned: IN named one object */
	bool via_mount;			/* named by a path on a lithfs mount */
	char *mount_path;		/* owned: that path (real), else NULL */
	struct loc_mount_cfg mcfg;	/* owned: that mount's endpoint... */
};

struct store_rfile {
	struct loc_rfile base;
	struct rd_file *f;
};

static const struct loc_ops store_ops;

static char *key_of(const struct store *st, const char *rel)
{
	char *k;

	if (asprintf(&k, "%s%s", st->prefix, rel) < 0)
		return NULL;
	return k;
}

/* ---- listing ---- */

static int add_entry(struct loc_inputs *out, size_t *cap, const struct os_list_entry *e,
		     const char *rel)
{
	struct loc_input *in;

	if (out->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 1024;
		struct loc_input *v = realloc(out->v, ncap * sizeof(*v));

		if (!v)
			return ENOMEM;
		out->v = v;
		*cap = ncap;
	}
	in = &out->v[out->n];
	memset(in, 0, sizeof(*in));
	in->rel = strdup(rel);
	if (!in->rel)
		return ENOMEM;
	in->size = e->size;
	in->mtime_ns = e->mtime_ns;
	snprintf(in->etag, sizeof(in->etag), "%s", e->etag);
	out->n++;
	return 0;
}

/* IN names one object (the prefix without its '/'). */
static int list_single(struct store *st, struct loc_inputs *out, size_t *cap)
{
	struct os_list_entry e = { 0 };
	struct os_stat os = { 0 };
	size_t n = strlen(st->prefix);
	const char *base;
	int err;

	if (n == 0)
		return 0;
	free(st->single_key);	/* listed before */
	st->single_key = strndup(st->prefix, n - 1);
	if (!st->single_key)
		return ENOMEM;
	err = os_head(st->s, st->single_key, &os);
	if (err == ENOENT)
		return 0;
	if (err)
		return err;
	e.size = os.size;
	e.mtime_ns = os.mtime_ns;
	snprintf(e.etag, sizeof(e.etag), "%s", os.etag);
	os_stat_release(&os);
	base = strrchr(st->single_key, '/');
	st->base.single_file = true;
	return add_entry(out, cap, &e, base ? base + 1 : st->single_key);
}

static int store_list(struct loc *l, struct loc_inputs *out, char *err, size_t errlen)
{
	struct store *st = (struct store *)l;
	size_t cap = 0, plen = strlen(st->prefix);
	char *token = NULL;
	int e = 0;

	out->v = NULL;
	out->n = 0;
	do {
		struct os_list_page pg = { 0 };

		e = os_list(st->s, st->prefix, NULL, token, 1000, &pg);
		free(token);
		token = NULL;
		for (size_t i = 0; !e && i < pg.n_entries; i++) {
			const char *key = pg.entries[i].key;
			size_t klen = strlen(key);

			if (klen > plen && key[klen - 1] != '/')
				e = add_entry(out, &cap, &pg.entries[i], key + plen);
		}
		if (!e && pg.next_token && !(token = strdup(pg.next_token)))
			e = ENOMEM;
		os_list_page_release(&pg);
	} while (!e && token);
	if (!e && out->n == 0)
		e = list_single(st, out, &cap);
	if (e) {
		snprintf(err, errlen, "cannot list %s: %s", l->name, strerror(e));
		loc_inputs_release(out);
	}
	return e;
}

/* ---- reading ---- */

/* The shared block cache; without it reads simply go to the store. */
static void open_cache(struct store *st)
{
	char *dir = bc_default_dir(), err[256] = "";

	if (dir && bc_open(dir, 0, &st->cache, err, sizeof(err)) != 0) {
		log_msg(LOG_INFO, "reading without the block cache: %s", err);
		st->cache = NULL;
	}
	free(dir);
}

/* An input on a mount is read through the mount: the long-running mount
 * process has the block cache mapped and prefetches, while a fresh mapdir
 * would pay a page fault for every cached page it maps (measured: 2-4x
 * slower). Its data still comes from the same shared cache. */
static struct loc_rfile *open_via_mount(struct store *st, const struct loc_input *in)
{
	struct store_rfile *f;
	char *path;
	int fd;

	if (st->single_key)
		path = strdup(st->mount_path);
	else if (asprintf(&path, "%s/%s", st->mount_path, in->rel) < 0)
		path = NULL;
	fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	free(path);
	if (fd < 0)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		return NULL;
	}
	f->base.loc = &st->base;
	f->base.fd = fd;
	return &f->base;
}

static int store_open_input(struct loc *l, const struct loc_input *in, struct loc_rfile **out)
{
	struct store *st = (struct store *)l;
	struct store_rfile *f;
	char *key;
	int e;

	if (st->mount_path && (*out = open_via_mount(st, in)) != NULL)
		return 0;
	if (!st->rd) {
		open_cache(st);
		e = rd_create(st->s, st->cache, NULL, &st->rd);
		if (e)
			return e;
	}
	key = st->single_key ? strdup(st->single_key) : key_of(st, in->rel);
	f = calloc(1, sizeof(*f));
	if (!key || !f) {
		free(key);
		free(f);
		return ENOMEM;
	}
	f->base.loc = l;
	f->base.fd = -1;
	e = rd_open(st->rd, key, in->etag, in->size, &f->f);
	free(key);
	if (e) {
		free(f);
		return e;
	}
	*out = &f->base;
	return 0;
}

static int store_read(struct loc_rfile *rf, uint64_t off, void *buf, size_t len, size_t *got)
{
	struct store_rfile *f = (struct store_rfile *)rf;

	if (!f->f)
		return loc_fd_read(rf->fd, off, buf, len, got);
	return rd_read(f->f, buf, off, len, got);
}

static void store_close_input(struct loc_rfile *rf)
{
	struct store_rfile *f = (struct store_rfile *)rf;

	if (f->f)
		rd_close(f->f);
	else
		close(rf->fd);
	free(rf);
}

/* ---- writing ---- */

static int store_create(struct loc *l, const char *rel, struct loc_wfile **out)
{
	struct store *st = (struct store *)l;
	struct loc_wfile *w = calloc(1, sizeof(*w));
	const char *tmp = getenv("TMPDIR");
	int e = ENOMEM;

	if (!w)
		return ENOMEM;
	w->loc = l;
	w->fd = -1;
	w->rel = key_of(st, rel);
	if (!w->rel || asprintf(&w->path, "%s/mapdir-out-XXXXXX", tmp ? tmp : "/tmp") < 0)
		goto out_free;
	w->fd = mkostemp(w->path, O_CLOEXEC);
	if (w->fd < 0) {
		e = errno;
		goto out_free;
	}
	*out = w;
	return 0;

out_free:
	free(w->rel);
	free(w->path);
	free(w);
	return e;
}

static int upload_fd(struct store *st, const char *key, int fd)
{
	struct os_upload *u;
	char *buf = malloc(COPY_BUF);
	uint64_t off = 0;
	int e = buf ? os_upload_create(st->s, key, NULL, NULL, &u) : ENOMEM;

	if (e) {
		free(buf);
		return e;
	}
	for (;;) {
		ssize_t r = pread(fd, buf, COPY_BUF, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = r < 0 ? errno : 0;
			break;
		}
		e = os_upload_write(u, buf, (size_t)r);
		if (e)
			break;
		off += (uint64_t)r;
	}
	free(buf);
	if (e) {
		os_upload_abort(u);
		return e;
	}
	return os_upload_finish(u, NULL);
}

static int store_publish(struct loc_wfile *w)
{
	int e = upload_fd((struct store *)w->loc, w->rel, w->fd);

	unlink(w->path);
	return e;
}

static int to_upload(void *arg, const void *data, size_t len)
{
	return os_upload_write(arg, data, len);
}

/* Streams the parts through this host into one new object. */
static int store_merge(struct loc *l, const char *rel, char *const *parts, size_t n)
{
	struct store *st = (struct store *)l;
	char *key = key_of(st, rel);
	struct os_upload *u;
	int e = key ? os_upload_create(st->s, key, NULL, NULL, &u) : ENOMEM;

	for (size_t i = 0; !e && i < n; i++) {
		char *pk = key_of(st, parts[i]);

		e = pk ? os_get(st->s, pk, 0, OS_RANGE_TO_END, NULL, to_upload, u) : ENOMEM;
		free(pk);
	}
	if (key && e)
		os_upload_abort(u);
	else if (key)
		e = os_upload_finish(u, NULL);
	free(key);
	return e;
}

static int store_remove(struct loc *l, const char *rel)
{
	char *key = key_of((struct store *)l, rel);
	int e = key ? os_delete(((struct store *)l)->s, key) : ENOMEM;

	free(key);
	return e;
}

static int to_buf(void *arg, const void *data, size_t len)
{
	return buf_append(arg, data, len);
}

static int store_read_all(struct loc *l, const char *rel, struct buf *out)
{
	char *key = key_of((struct store *)l, rel);
	int e = key ? os_get(((struct store *)l)->s, key, 0, OS_RANGE_TO_END, NULL, to_buf, out)
		    : ENOMEM;

	free(key);
	return e;
}

/* The bucket answers and takes a write under the prefix. */
static int store_prepare_output(struct loc *l, char *err, size_t errlen)
{
	struct store *st = (struct store *)l;
	char *probe = NULL;
	int e = os_check(st->s);

	if (!e && asprintf(&probe, "%s.mapdir-probe-%ld", st->prefix, (long)getpid()) < 0)
		e = ENOMEM;
	if (!e)
		e = os_put(st->s, probe, "", 0, NULL, NULL);
	if (!e)
		os_delete(st->s, probe);
	free(probe);
	/* OUT on a mount: make it through the mount too, so the mount's caches
	 * (and the kernel's) see the directory now, not after a negative TTL */
	if (!e && st->via_mount)
		loc_mkdirs(l->name, strlen(l->name));
	if (e)
		snprintf(err, errlen, "output %s is not writable: %s", l->name, strerror(e));
	return e;
}

static void store_destroy(struct loc *l)
{
	struct store *st = (struct store *)l;

	if (st->rd)
		rd_destroy(st->rd);
	if (st->cache)
		bc_close(st->cache);
	os_destroy(st->s);
	free(st->prefix);
	free(st->single_key);
	free(st->mount_path);
	loc_mount_cfg_release(&st->mcfg);
	free(st);
}

static const struct loc_ops store_ops = {
	.name = "store",
	.list = store_list,
	.open_input = store_open_input,
	.read = store_read,
	.close_input = store_close_input,
	.create = store_create,
	.publish = store_publish,
	.merge = store_merge,
	.remove = store_remove,
	.read_all = store_read_all,
	.prepare_output = store_prepare_output,
	.destroy = store_destroy,
};

/* ---- opening ---- */

/* mountinfo escapes blanks and backslashes as \ooo. */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] && s[3]) {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

/* Fields of one mountinfo line: the directory of the filesystem mounted
 * (not "/" for a bind mount of a subdirectory), mount point, fstype,
 * source, super options. */
static int mountinfo_fields(char *line, char **fsroot, char **mp, char **type, char **src,
			    char **opts)
{
	char *save = NULL, *tok;
	int i = 0, after_dash = -1;

	*fsroot = *mp = *type = *src = *opts = NULL;
	for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save), i++) {
		if (i == 3)
			*fsroot = tok;
		else if (i == 4)
			*mp = tok;
		else if (after_dash < 0 && i > 5 && strcmp(tok, "-") == 0)
			after_dash = i;
		else if (after_dash >= 0 && i == after_dash + 1)
			*type = tok;
		else if (after_dash >= 0 && i == after_dash + 2)
			*src = tok;
		else if (after_dash >= 0 && i == after_dash + 3)
			*opts = tok;
	}
	if (!*fsroot || !*mp || !*type || !*src || !*opts)
		return EINVAL;
	unescape(*fsroot);
	unescape(*mp);
	unescape(*src);
	return 0;
}

/* A lithfs mount whose daemon we trust: user_id= (the mounting user) is us
 * or root. */
static bool lithfs_mount_ours(const char *type, const char *opts)
{
	const char *u = strstr(opts, "user_id=");
	unsigned long uid;
	char *end;

	if (strcmp(type, "fuse.lithfs") != 0 || !u || (u != opts && u[-1] != ','))
		return false;
	uid = strtoul(u + 8, &end, 10);
	if (end == u + 8 || (*end != ',' && *end != '\0'))
		return false;
	if (uid != 0 && uid != (unsigned long)geteuid()) {
		log_msg(LOG_NOTICE, "a lithfs mount of user %lu: used as a plain directory, "
			"not as the store its daemon names", uid);
		return false;
	}
	return true;
}

/* The key of rel (a path below a mount point) in a mount of directory
 * fsroot of the filesystem: "sub/rel" for a bind mount of /sub. */
static char *key_below(const char *fsroot, const char *rel)
{
	char *key;

	fsroot += strspn(fsroot, "/");
	if (!*fsroot)
		return strdup(rel);
	if (asprintf(&key, "%s%s%s", fsroot, *rel ? "/" : "", rel) < 0)
		return NULL;
	return key;
}

int loc_store_probe_mount(const char *path, char **source, char **key, char **root)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *fsroot, *mp, *type, *src, *opts;
	size_t cap = 0, best = 0;
	bool lithfs = false;

	*source = *key = NULL;
	if (!f)
		return ENOENT;
	while (getline(&line, &cap, f) > 0) {
		size_t n;

		if (mountinfo_fields(line, &fsroot, &mp, &type, &src, &opts))
			continue;
		n = strcmp(mp, "/") == 0 ? 0 : strlen(mp);
		if (strncmp(path, mp, n) != 0 || (path[n] != '/' && path[n] != '\0'))
			continue;
		if (n < best)
			continue;
		best = n;	/* the deepest mount holding path wins (later ones shadow) */
		lithfs = lithfs_mount_ours(type, opts);
		free(*source);
		free(*key);
		*source = strdup(src);
		*key = key_below(fsroot, path[n] == '/' ? path + n + 1 : "");
		if (root) {
			free(*root);
			*root = strdup(mp);
		}
	}
	free(line);
	fclose(f);
	if (!lithfs || !*source || !*key || (root && !*root)) {
		free(*source);
		free(*key);
		*source = *key = NULL;
		if (root) {
			free(*root);
			*root = NULL;
		}
		return ENOENT;
	}
	return 0;
}

static char *xattr_str(const char *root, const char *name)
{
	char v[2048];
	ssize_t n = getxattr(root, name, v, sizeof(v) - 1);

	if (n <= 0)
		return NULL;
	v[n] = '\0';
	return strdup(v);
}

void loc_mount_cfg_read(const char *root, struct loc_mount_cfg *mc)
{
	mc->endpoint = xattr_str(root, "user.lithfs.endpoint");
	mc->region = xattr_str(root, "user.lithfs.region");
	mc->addressing = xattr_str(root, "user.lithfs.addressing");
	mc->profile = xattr_str(root, "user.lithfs.profile");
	mc->passwd_file = xattr_str(root, "user.lithfs.passwd_file");
	mc->no_sign = getxattr(root, "user.lithfs.no_sign", NULL, 0) > 0;
}

void loc_mount_cfg_release(struct loc_mount_cfg *mc)
{
	free(mc->endpoint);
	free(mc->region);
	free(mc->addressing);
	free(mc->profile);
	free(mc->passwd_file);
	memset(mc, 0, sizeof(*mc));
}

static bool is_url(const char *spec)
{
	return strncmp(spec, "s3://", 5) == 0 || strncmp(spec, "file://", 7) == 0;
}

/* Source string and extra key below its prefix for spec; ENOENT when spec is
 * a local path that is not on a lithfs mount. */
static int source_of(const char *spec, bool output, char **source, char **key,
		     char **mount_path, struct loc_mount_cfg *mc)
{
	char *root = NULL;
	char *real;
	int e;

	if (is_url(spec)) {
		*source = strdup(spec);
		*key = strdup("");
		return *source && *key ? 0 : ENOMEM;
	}
	real = output ? loc_future_realpath(spec) : realpath(spec, NULL);
	if (!real)
		return ENOENT;	/* the local implementation reports it */
	e = loc_store_probe_mount(real, source, key, &root);
	if (e) {
		free(real);
		return e;
	}
	*mount_path = real;
	loc_mount_cfg_read(root, mc);
	free(root);
	return 0;
}

static int store_init(struct store *st, const char *spec, const struct os_source *src,
		      const char *key)
{
	size_t n;

	if (asprintf(&st->prefix, "%s%s%s", src->prefix, key, *key ? "/" : "") < 0)
		return ENOMEM;
	n = strlen(st->prefix);
	st->base.name = strdup(spec);
	if (asprintf(&st->base.id, "%s/%.*s", os_id(st->s), (int)(n ? n - 1 : 0),
		     st->prefix) < 0)
		st->base.id = NULL;
	return st->base.name && st->base.id ? 0 : ENOMEM;
}

/* The mount's settings (endpoint, region, credentials' source, addressing)
 * over this environment's. */
static void mount_cfg_apply(const struct loc_mount_cfg *mc, struct os_config *cfg)
{
	cfg->endpoint = mc->endpoint;
	cfg->region = mc->region;
	cfg->profile = mc->profile;
	cfg->passwd_file = mc->passwd_file;
	cfg->no_sign = mc->no_sign;
	if (mc->addressing)
		cfg->addressing = strcmp(mc->addressing, "virtual") == 0 ? OS_ADDR_VIRTUAL
									 : OS_ADDR_PATH;
}

/* Opens st->s. For a path on a mount, a store that cannot be opened with the
 * mount's settings (e.g. its profile is not ours) or does not answer is
 * ENOENT: the caller then goes through the mount. */
static int open_store(struct store *st, const char *spec, bool mount,
		      const struct os_source *src, const struct os_config *cfg, char *err,
		      size_t errlen)
{
	int e = os_open(src, cfg, &st->s, err, errlen);

	if (e == EINVAL && mount) {
		log_msg(LOG_INFO, "%s: cannot open the store of its mount (%s): using the "
			"mount", spec, err);
		e = ENOENT;
	} else if (!e && mount && (e = os_check(st->s)) != 0) {
		log_msg(LOG_INFO, "%s: the store of its mount does not answer (%s): using "
			"the mount", spec, strerror(e));
		e = ENOENT;
	}
	return e;
}

int loc_store_open(const char *spec, bool output, struct loc **out, char *err,
		   size_t errlen)
{
	struct os_source src = { 0 };
	struct os_config cfg = { 0 };
	struct loc_mount_cfg mc = { 0 };
	struct store *st = NULL;
	char *source = NULL, *key = NULL, *mount_path = NULL;
	bool mount = !is_url(spec);
	int e = source_of(spec, output, &source, &key, &mount_path, &mc);

	if (e)
		goto out_free;
	e = os_source_parse(source, &src, err, errlen);
	if (e)
		goto out_free;
	if (output && src.kind == OS_KIND_LOCAL && !mount) {
		char *dir;

		if (asprintf(&dir, "%s/%s", src.root, src.bucket) >= 0) {
			loc_mkdirs(dir, strlen(dir));	/* a new output bucket */
			free(dir);
		}
	}
	st = calloc(1, sizeof(*st));
	if (st)
		st->base.ops = &store_ops;
	mount_cfg_apply(&mc, &cfg);
	e = st ? open_store(st, spec, mount, &src, &cfg, err, errlen) : ENOMEM;
	if (!e)
		e = store_init(st, spec, &src, key);
	if (!e) {
		st->via_mount = mount;
		st->mount_path = mount_path;
		mount_path = NULL;
		st->mcfg = mc;
		memset(&mc, 0, sizeof(mc));
	}
	if (!e && mount)
		log_msg(LOG_INFO, "%s is on a lithfs mount of %s: listing and writing through "
			"the store (prefix '%s', endpoint %s), reading through the mount", spec,
			source, st->prefix, st->mcfg.endpoint ? st->mcfg.endpoint : "default");
	if (!e) {
		*out = &st->base;
		st = NULL;
	}
out_free:
	if (e == ENOENT && mount)
		err[0] = '\0';
	if (st)
		loc_destroy(&st->base);
	os_source_release(&src);
	loc_mount_cfg_release(&mc);
	free(source);
	free(key);
	free(mount_path);
	return e;
}
