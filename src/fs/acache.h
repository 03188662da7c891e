/*
 * acache.h - the attribute cache of the mount: path -> attributes, or path ->
 * "does not exist", each trusted for a time to live (stat_ttl, neg_ttl).
 *
 * It is fed by directory listings (acache_put_listed: size and Last-Modified
 * only, so metadata already known for the same object version is kept), by
 * HEADs (acache_put_head, which also keeps the object's other user metadata)
 * and by the mount's own changes (acache_put). An expired entry is a miss,
 * so changes made by other clients are seen within the TTL.
 *
 * Two more things live in an entry, for open (handles.c): the time a request
 * last confirmed the object's version (a HEAD, or a listing showing the
 * version whose metadata is known), which an open may use once instead of
 * its own HEAD (acache_take_checked); and the ETag of the data the kernel
 * may hold in its page cache for the path (acache_kernel_etag), which
 * decides FOPEN_KEEP_CACHE. A put of another version forgets both.
 * Bounded: past ACACHE_MAX entries, expired ones are swept, then the oldest
 * half of the table is dropped. Thread-safe (one mutex).
 */
#ifndef LITHFS_FS_ACACHE_H
#define LITHFS_FS_ACACHE_H

#include <stdint.h>

#include "fs/attrs.h"
#include "objstore/objstore.h"

#define ACACHE_MAX 500000
/* A directory listed with at most this many entries is listed again rather
 * than looking a missing name up, see acache_relist_worth(). */
#define ACACHE_RELIST_MAX 2000

struct acache;

/* ttl/neg_ttl in seconds (0 disables that kind of entry). 0 or ENOMEM. */
int acache_create(double ttl, double neg_ttl, struct acache **out);
void acache_destroy(struct acache *c);

/* 0 and *out on a hit, ENOENT on a negative hit, EAGAIN on a miss. */
int acache_get(struct acache *c, const char *path, struct fs_attr *out);
void acache_put(struct acache *c, const char *path, const struct fs_attr *a);
/* From a listing: when the cached entry (even expired) describes the same
 * object version (same ETag and size, and same Last-Modified unless that is
 * still unknown (0) after the mount's own write; any directory) and its
 * metadata is known, that metadata is kept and only the expiry renewed. */
void acache_put_listed(struct acache *c, const char *path, const struct fs_attr *a);
void acache_put_negative(struct acache *c, const char *path);
/* From a HEAD: a (meta_known) and the object's metadata meta, of which the
 * keys that are not attributes (attrs.h) are kept with the entry. spare: the
 * HEAD may serve the next open (acache_take_checked); false when an open
 * made it. 0 or ENOMEM (the attributes are cached even then). */
int acache_put_head(struct acache *c, const char *path, const struct fs_attr *a,
		    const struct os_meta *meta, bool spare);
/* 0 when a request confirmed path's object (a file with known metadata) at
 * most max_age_ns ago: *a and *extra (the other user metadata; the caller
 * releases it) are filled, and that confirmation is used up, so the next
 * open asks the store again. EAGAIN otherwise (or ENOMEM). */
int acache_take_checked(struct acache *c, const char *path, int64_t max_age_ns,
			struct fs_attr *a, struct os_meta *extra);
/* The entry of path even when expired: 0 and *a, or EAGAIN (none, or a
 * negative one). What the kernel was last told about path, at most. */
int acache_peek(struct acache *c, const char *path, struct fs_attr *a);
/* The kernel is about to cache path's data at etag: returns true when the
 * data it may hold already is of that same etag (so FOPEN_KEEP_CACHE is
 * safe), and records etag. */
bool acache_kernel_etag(struct acache *c, const char *path, const char *etag);
void acache_forget(struct acache *c, const char *path);
/* Forgets path and every path below it. */
void acache_forget_below(struct acache *c, const char *path);
/* A directory whose full listing (or creation) is this fresh: for
 * min(ttl, neg_ttl), a name it does not hold needs no request to be known
 * missing. Any removal of entries (forget, move, sweep) voids every such
 * mark, so a forgotten child can never be taken for a missing one. */
void acache_set_complete(struct acache *c, const char *dir, size_t entries);
/* The moment a listing began: taken (acache_stamp) before its first LIST and
 * given to acache_set_complete_since when all its entries are cached. The
 * mark then lives min(ttl, neg_ttl) from that moment, not from its end: each
 * entry the listing put lives ttl from its put, which is later, so while the
 * mark holds every listed name is still cached (a mark counted from the end
 * outlived the first entries, and a listed name looked up in that gap was
 * "missing"). A removal since the stamp voids the mark at once. */
struct acache_stamp {
	int64_t ns;		/* monotonic */
	uint64_t gen;
};
void acache_stamp(struct acache *c, struct acache_stamp *since);
void acache_set_complete_since(struct acache *c, const char *dir, size_t entries,
			       const struct acache_stamp *since);
bool acache_is_complete(struct acache *c, const char *dir);
/* True when dir's complete mark, of a listing of at most ACACHE_RELIST_MAX
 * entries, ended less than window_ns ago (or is still on): a program is
 * creating or probing names there, and listing dir again (one request that
 * renews the mark) is cheaper than a LIST per missing name. */
bool acache_relist_worth(struct acache *c, const char *dir, int64_t window_ns);
/* After a directory rename: the entries of from and below it move to the
 * same place below to (what is known about the objects stays known); to's
 * old entries are forgotten. */
void acache_move_below(struct acache *c, const char *from, const char *to);

#endif
