/*
 * acache.h - the attribute cache of the mount: path -> attributes, or path ->
 * "does not exist", each trusted for a time to live (stat_ttl, neg_ttl).
 *
 * It is fed by directory listings (acache_put_listed: size and Last-Modified
 * only, so metadata already known for the same object version is kept), by
 * HEADs and by the mount's own changes (acache_put). An expired entry is a
 * miss, so changes made by other clients are seen within the TTL.
 * Bounded: past ACACHE_MAX entries, expired ones are swept, then the oldest
 * half of the table is dropped. Thread-safe (one mutex).
 */
#ifndef LITHFS_FS_ACACHE_H
#define LITHFS_FS_ACACHE_H

#include "fs/attrs.h"

#define ACACHE_MAX 500000

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
void acache_forget(struct acache *c, const char *path);
/* Forgets path and every path below it. */
void acache_forget_below(struct acache *c, const char *path);
/* A directory whose full listing (or creation) is this fresh: for
 * min(ttl, neg_ttl), a name it does not hold needs no request to be known
 * missing. Any removal of entries (forget, move, sweep) voids every such
 * mark, so a forgotten child can never be taken for a missing one. */
void acache_set_complete(struct acache *c, const char *dir);
bool acache_is_complete(struct acache *c, const char *dir);
/* After a directory rename: the entries of from and below it move to the
 * same place below to (what is known about the objects stays known); to's
 * old entries are forgotten. */
void acache_move_below(struct acache *c, const char *from, const char *to);

#endif
