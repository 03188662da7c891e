/*
 * acache.c - TTL attribute cache (acache.h): a chained hash table of paths
 * under one mutex, resized by doubling. Expiry uses CLOCK_MONOTONIC. Entries
 * are not removed when they expire, only replaced, swept when the table is
 * full, or forgotten; an expired entry still serves acache_put_listed() as
 * the memory of metadata already fetched.
 */
#include "config.h"
#include "fs/acache.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/names.h"

struct ac_entry {
	struct ac_entry *next;
	char *path;		/* owned */
	uint64_t hash;
	int64_t expires;	/* monotonic ns */
	int64_t stamp;		/* monotonic ns of the last put */
	bool negative;
	int64_t complete_until;	/* monotonic ns; see acache_set_complete */
	uint64_t complete_gen;	/* c->gen when it was set */
	bool complete_small;	/* that listing had <= ACACHE_RELIST_MAX entries */
	struct fs_attr attr;
	struct os_meta extra;	/* owned: other user metadata (extra_known) */
	bool extra_known;
	int64_t checked;	/* monotonic ns a request confirmed attr; 0: none */
	char kernel_etag[OS_ETAG_MAX];	/* "" when unknown */
};

struct acache {
	pthread_mutex_t lock;
	struct ac_entry **buckets;	/* protected by lock */
	size_t nb;			/* protected by lock; power of two */
	size_t n;			/* protected by lock */
	uint64_t gen;			/* protected by lock; bumped by removals */
	int64_t ttl_ns, neg_ttl_ns;	/* immutable */
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t path_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

int acache_create(double ttl, double neg_ttl, struct acache **out)
{
	struct acache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return ENOMEM;
	c->nb = 1024;
	c->buckets = calloc(c->nb, sizeof(*c->buckets));
	if (c->buckets == NULL) {
		free(c);
		return ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->ttl_ns = (int64_t)(ttl * 1e9);
	c->neg_ttl_ns = (int64_t)(neg_ttl * 1e9);
	*out = c;
	return 0;
}

static void entry_free(struct ac_entry *e)
{
	os_meta_release(&e->extra);
	free(e->path);
	free(e);
}

void acache_destroy(struct acache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nb; i++) {
		struct ac_entry *e = c->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			entry_free(e);
		}
	}
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Called with c->lock held. */
static struct ac_entry **find_slot(struct acache *c, const char *path, uint64_t h)
{
	struct ac_entry **pp = &c->buckets[h & (c->nb - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->hash == h && strcmp((*pp)->path, path) == 0)
			break;
	}
	return pp;
}

int acache_get(struct acache *c, const char *path, struct fs_attr *out)
{
	uint64_t h = path_hash(path);
	struct ac_entry *e;
	int rc = EAGAIN;

	pthread_mutex_lock(&c->lock);
	e = *find_slot(c, path, h);
	if (e != NULL && e->expires > mono_ns()) {
		rc = e->negative ? ENOENT : 0;
		if (!e->negative)
			*out = e->attr;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Called with c->lock held: doubles the table. Failure only costs speed. */
static void grow(struct acache *c)
{
	size_t nb = c->nb * 2;
	struct ac_entry **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return;
	for (size_t i = 0; i < c->nb; i++) {
		struct ac_entry *e = c->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nb = nb;
}

/* Called with c->lock held: drops entries expired or older than cutoff. */
static void sweep(struct acache *c, int64_t now, int64_t cutoff)
{
	c->gen++;
	for (size_t i = 0; i < c->nb; i++) {
		struct ac_entry **pp = &c->buckets[i];

		while (*pp != NULL) {
			struct ac_entry *e = *pp;

			if (e->expires <= now || e->stamp < cutoff) {
				*pp = e->next;
				entry_free(e);
				c->n--;
			} else {
				pp = &e->next;
			}
		}
	}
}

/* Called with c->lock held: makes room for one more entry. */
static void make_room(struct acache *c, int64_t now)
{
	if (c->n >= ACACHE_MAX) {
		sweep(c, now, INT64_MIN);
		if (c->n >= ACACHE_MAX / 2)
			sweep(c, now, now - (c->ttl_ns > c->neg_ttl_ns ?
					     c->ttl_ns : c->neg_ttl_ns) / 2);
	}
	if (c->n > c->nb * 2)
		grow(c);
}

/* Called with c->lock held: the entry for path, created if needed. */
static struct ac_entry *entry_for(struct acache *c, const char *path, int64_t now)
{
	uint64_t h = path_hash(path);
	struct ac_entry **pp = find_slot(c, path, h);
	struct ac_entry *e = *pp;

	if (e != NULL)
		return e;
	make_room(c, now);
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->path = strdup(path);
	if (e->path == NULL) {
		free(e);
		return NULL;
	}
	e->hash = h;
	e->next = c->buckets[h & (c->nb - 1)];
	c->buckets[h & (c->nb - 1)] = e;
	c->n++;
	return e;
}

static bool same_version(const struct fs_attr *old, const struct fs_attr *a)
{
	if ((old->mode & S_IFMT) == S_IFDIR || (a->mode & S_IFMT) == S_IFDIR)
		return (old->mode & S_IFMT) == (a->mode & S_IFMT);
	/* Seconds only: a HEAD's Last-Modified has no fraction, a listing's has
	 * milliseconds. */
	return strcmp(old->etag, a->etag) == 0 && old->size == a->size &&
	       (old->lm_ns == 0 || old->lm_ns / 1000000000 == a->lm_ns / 1000000000);
}

/* Called with c->lock held: e now describes another version (or nothing):
 * what belonged to the old one goes. */
static void drop_version(struct ac_entry *e, const char *etag)
{
	os_meta_release(&e->extra);
	e->extra_known = false;
	e->checked = 0;
	if (etag == NULL || strcmp(etag, e->kernel_etag) != 0)
		e->kernel_etag[0] = '\0';
}

enum put_kind { PUT_OWN, PUT_LISTED, PUT_HEAD };

/* Called with c->lock held. */
static struct ac_entry *put_locked(struct acache *c, const char *path,
				   const struct fs_attr *a, enum put_kind kind, int64_t now)
{
	struct ac_entry *e = entry_for(c, path, now);

	if (e == NULL)
		return NULL;
	if (kind == PUT_LISTED && !e->negative && e->attr.meta_known &&
	    same_version(&e->attr, a)) {
		e->attr.lm_ns = a->lm_ns;	/* learn it if unknown */
		e->checked = now;
	} else {
		drop_version(e, e->negative ? NULL : a->etag);
		e->attr = *a;
		if (kind == PUT_HEAD)
			e->checked = now;
	}
	e->negative = false;
	e->expires = now + c->ttl_ns;
	e->stamp = now;
	return e;
}

static void put(struct acache *c, const char *path, const struct fs_attr *a, bool listed)
{
	if (c->ttl_ns <= 0)
		return;
	pthread_mutex_lock(&c->lock);
	put_locked(c, path, a, listed ? PUT_LISTED : PUT_OWN, mono_ns());
	pthread_mutex_unlock(&c->lock);
}

void acache_put(struct acache *c, const char *path, const struct fs_attr *a)
{
	put(c, path, a, false);
}

void acache_put_listed(struct acache *c, const char *path, const struct fs_attr *a)
{
	put(c, path, a, true);
}

void acache_put_negative(struct acache *c, const char *path)
{
	int64_t now = mono_ns();
	struct ac_entry *e;

	if (c->neg_ttl_ns <= 0) {
		acache_forget(c, path);
		return;
	}
	pthread_mutex_lock(&c->lock);
	e = entry_for(c, path, now);
	if (e != NULL) {
		drop_version(e, NULL);
		e->negative = true;
		e->expires = now + c->neg_ttl_ns;
		e->stamp = now;
	}
	pthread_mutex_unlock(&c->lock);
}

void acache_forget(struct acache *c, const char *path)
{
	uint64_t h = path_hash(path);
	struct ac_entry **pp, *e;

	pthread_mutex_lock(&c->lock);
	c->gen++;
	pp = find_slot(c, path, h);
	e = *pp;
	if (e != NULL) {
		*pp = e->next;
		entry_free(e);
		c->n--;
	}
	pthread_mutex_unlock(&c->lock);
}

void acache_forget_below(struct acache *c, const char *path)
{
	acache_forget(c, path);
	pthread_mutex_lock(&c->lock);
	c->gen++;
	for (size_t i = 0; i < c->nb; i++) {
		struct ac_entry **pp = &c->buckets[i];

		while (*pp != NULL) {
			struct ac_entry *e = *pp;

			if (fs_path_below(e->path, path)) {
				*pp = e->next;
				entry_free(e);
				c->n--;
			} else {
				pp = &e->next;
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
}

/* Called with c->lock held: unlinks the entries of path and below it into
 * a list (through ->next). */
static struct ac_entry *take_below(struct acache *c, const char *path)
{
	struct ac_entry *taken = NULL;

	for (size_t i = 0; i < c->nb; i++) {
		struct ac_entry **pp = &c->buckets[i];

		while (*pp != NULL) {
			struct ac_entry *e = *pp;

			if (strcmp(e->path, path) == 0 || fs_path_below(e->path, path)) {
				*pp = e->next;
				e->next = taken;
				taken = e;
				c->n--;
			} else {
				pp = &e->next;
			}
		}
	}
	return taken;
}

void acache_move_below(struct acache *c, const char *from, const char *to)
{
	struct ac_entry *taken, *next;
	size_t flen = strlen(from), tlen = strlen(to);

	acache_forget_below(c, to);
	pthread_mutex_lock(&c->lock);
	c->gen++;
	taken = take_below(c, from);
	for (struct ac_entry *e = taken; e != NULL; e = next) {
		size_t rest = strlen(e->path) - flen;
		char *p = malloc(tlen + rest + 1);

		next = e->next;
		if (p == NULL) {
			entry_free(e);
			continue;
		}
		memcpy(p, to, tlen);
		memcpy(p + tlen, e->path + flen, rest + 1);
		free(e->path);
		e->path = p;
		e->hash = path_hash(p);
		e->attr.lm_ns = 0;	/* copies have a new Last-Modified */
		e->next = c->buckets[e->hash & (c->nb - 1)];
		c->buckets[e->hash & (c->nb - 1)] = e;
		c->n++;
	}
	pthread_mutex_unlock(&c->lock);
}

void acache_stamp(struct acache *c, struct acache_stamp *since)
{
	pthread_mutex_lock(&c->lock);
	since->ns = mono_ns();
	since->gen = c->gen;
	pthread_mutex_unlock(&c->lock);
}

void acache_set_complete_since(struct acache *c, const char *dir, size_t entries,
			       const struct acache_stamp *since)
{
	int64_t life = c->ttl_ns < c->neg_ttl_ns ? c->ttl_ns : c->neg_ttl_ns;
	struct ac_entry *e;

	if (life <= 0)
		return;
	pthread_mutex_lock(&c->lock);
	e = entry_for(c, dir, mono_ns());	/* a new entry stays an expired miss */
	if (e != NULL) {
		e->complete_until = since->ns + life;
		e->complete_gen = since->gen;	/* void if anything went since */
		e->complete_small = entries <= ACACHE_RELIST_MAX;
	}
	pthread_mutex_unlock(&c->lock);
}

void acache_set_complete(struct acache *c, const char *dir, size_t entries)
{
	struct acache_stamp now;

	acache_stamp(c, &now);
	acache_set_complete_since(c, dir, entries, &now);
}

bool acache_is_complete(struct acache *c, const char *dir)
{
	struct ac_entry *e;
	bool complete;

	pthread_mutex_lock(&c->lock);
	e = *find_slot(c, dir, path_hash(dir));
	complete = e != NULL && e->complete_gen == c->gen && e->complete_until > mono_ns();
	pthread_mutex_unlock(&c->lock);
	return complete;
}

bool acache_relist_worth(struct acache *c, const char *dir, int64_t window_ns)
{
	struct ac_entry *e;
	bool worth;

	pthread_mutex_lock(&c->lock);
	e = *find_slot(c, dir, path_hash(dir));
	worth = e != NULL && e->complete_small && e->complete_until != 0 &&
		mono_ns() < e->complete_until + window_ns;
	pthread_mutex_unlock(&c->lock);
	return worth;
}

/* The s3fs attribute keys (attrs.h): everything else is "extra". */
static bool is_attr_key(const char *name)
{
	static const char *const keys[] = { "mode", "uid", "gid", "mtime", "ctime", "atime" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(name, keys[i]) == 0)
			return true;
	return false;
}

int acache_put_head(struct acache *c, const char *path, const struct fs_attr *a,
		    const struct os_meta *meta, bool spare)
{
	struct os_meta extra = { NULL, 0 };
	struct ac_entry *e;
	int rc = 0;

	if (c->ttl_ns <= 0)
		return 0;
	for (size_t i = 0; i < meta->n && rc == 0; i++)
		if (!is_attr_key(meta->kv[i].name))
			rc = os_meta_set(&extra, meta->kv[i].name, meta->kv[i].value);
	pthread_mutex_lock(&c->lock);
	e = put_locked(c, path, a, PUT_HEAD, mono_ns());
	if (e != NULL && !spare)
		e->checked = 0;
	if (e != NULL && rc == 0) {
		e->extra = extra;	/* put_locked released the old one */
		e->extra_known = true;
		extra.kv = NULL;
		extra.n = 0;
	}
	pthread_mutex_unlock(&c->lock);
	os_meta_release(&extra);
	return rc;
}

int acache_take_checked(struct acache *c, const char *path, int64_t max_age_ns,
			struct fs_attr *a, struct os_meta *extra)
{
	int64_t now = mono_ns();
	struct ac_entry *e;
	int rc = EAGAIN;

	pthread_mutex_lock(&c->lock);
	e = *find_slot(c, path, path_hash(path));
	if (e != NULL && !e->negative && e->extra_known && e->attr.meta_known &&
	    e->checked != 0 && now - e->checked <= max_age_ns && e->expires > now &&
	    S_ISREG(e->attr.mode) && e->attr.etag[0] != '\0') {
		rc = os_meta_copy(extra, &e->extra);
		if (rc == 0) {
			*a = e->attr;
			e->checked = 0;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Called with c->lock held: path's entry when it holds attributes, even
 * expired ones; NULL when none or negative. */
static struct ac_entry *known_entry(struct acache *c, const char *path)
{
	struct ac_entry *e = *find_slot(c, path, path_hash(path));

	return e != NULL && !e->negative && e->stamp != 0 ? e : NULL;
}

int acache_peek(struct acache *c, const char *path, struct fs_attr *a)
{
	struct ac_entry *e;

	pthread_mutex_lock(&c->lock);
	e = known_entry(c, path);
	if (e != NULL)
		*a = e->attr;
	pthread_mutex_unlock(&c->lock);
	return e != NULL ? 0 : EAGAIN;
}

bool acache_kernel_etag(struct acache *c, const char *path, const char *etag)
{
	struct ac_entry *e;
	bool same = false;

	pthread_mutex_lock(&c->lock);
	e = known_entry(c, path);
	if (e != NULL) {
		same = etag[0] != '\0' && strcmp(e->kernel_etag, etag) == 0;
		snprintf(e->kernel_etag, sizeof(e->kernel_etag), "%s", etag);
	}
	pthread_mutex_unlock(&c->lock);
	return same;
}
