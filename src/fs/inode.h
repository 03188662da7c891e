/*
 * inode.h - the open regular files of the mount, by path.
 *
 * An inode exists while at least one FUSE file handle refers to it (fi->fh
 * holds a reference; so do operations that borrow it for a moment). All the
 * handles of a path share one inode and so one struct fs_file (file.h).
 * Rename moves an inode to its new path; unlink takes it out of the table
 * ("unlinked"): its handles keep working, but nothing is published any more.
 *
 * Locking: the table lock protects the list, every inode's path, refs and
 * linked flag. ino->lock protects the attribute fields marked so; ino->io
 * serialises the operations that publish the file (flush, truncate, metadata
 * changes) and may be held across network calls. Order: io, then lock; the
 * table lock is never held while taking another.
 */
#ifndef LITHFS_FS_INODE_H
#define LITHFS_FS_INODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "fs/attrs.h"
#include "objstore/objstore.h"

struct fs_file;
struct inode_table;

struct fs_inode {
	struct fs_inode *prev, *next;	/* protected by the table lock */
	char *path;			/* owned; protected by the table lock */
	int refs;			/* protected by the table lock */
	bool linked;			/* protected by the table lock */

	struct fs_file *file;		/* owned; set before insertion, then fixed */
	pthread_mutex_t io;
	pthread_mutex_t lock;
	struct fs_attr attr;		/* protected by lock (size: see file_size) */
	struct os_meta extra;		/* user metadata to keep; protected by lock */
	bool published;			/* the object exists; protected by lock */
	bool meta_dirty;		/* attr not yet stored; protected by lock */
	bool defer_trunc;		/* emptied by open(O_TRUNC), nothing written
					 * since: flush keeps the old object
					 * (handles.c); protected by lock */
};

int inode_table_create(struct inode_table **out);
/* The table must be empty (fs_destroy releases every inode first). */
void inode_table_destroy(struct inode_table *t);

/* A new inode for path with refs 1, not in any table. Takes ownership of
 * file and of extra (moved out, left empty). NULL on ENOMEM. */
struct fs_inode *inode_new(const char *path, struct fs_file *file,
			   const struct fs_attr *attr, struct os_meta *extra,
			   bool published);
/* Adds ino under its path; when another inode got there first, that one is
 * returned with a new reference and ino is left to the caller to free. */
struct fs_inode *inode_insert(struct inode_table *t, struct fs_inode *ino);
/* The linked inode of path with a new reference, or NULL. */
struct fs_inode *inode_get(struct inode_table *t, const char *path);
void inode_ref(struct inode_table *t, struct fs_inode *ino);
/* Drops a reference. At zero the inode leaves the table and true is
 * returned: the caller then flushes/closes ino->file and calls inode_free. */
bool inode_unref(struct inode_table *t, struct fs_inode *ino);
void inode_free(struct fs_inode *ino);	/* does not close ino->file */

/* The current path of ino (caller frees), NULL on ENOMEM. */
char *inode_path(struct inode_table *t, struct fs_inode *ino);
bool inode_linked(struct inode_table *t, struct fs_inode *ino);
/* Takes path's inode (if any) out of the table: unlinked. */
void inode_unlink(struct inode_table *t, const char *path);
/* Moves the inode of from (if any) to to, unlinking one already at to. */
int inode_rename(struct inode_table *t, const char *from, const char *to);
/* Every linked inode strictly below dir, each with a new reference, in a
 * malloc'd array (caller unrefs each and frees the array); dir "/" gives
 * every inode. 0 or ENOMEM. */
int inode_list_below(struct inode_table *t, const char *dir, struct fs_inode ***out,
		     size_t *n);

#endif
