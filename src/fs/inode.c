/*
 * inode.c - the table of open files (inode.h): a doubly linked list under
 * one mutex. It holds only the files open right now, usually a handful, so
 * a linear search by path is cheaper than keeping a hash in step with
 * renames.
 */
#include "config.h"
#include "fs/inode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/names.h"

struct inode_table {
	pthread_mutex_t lock;
	struct fs_inode *head;		/* protected by lock */
};

int inode_table_create(struct inode_table **out)
{
	struct inode_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	*out = t;
	return 0;
}

void inode_table_destroy(struct inode_table *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct fs_inode *inode_new(const char *path, struct fs_file *file,
			   const struct fs_attr *attr, struct os_meta *extra,
			   bool published)
{
	struct fs_inode *ino = calloc(1, sizeof(*ino));

	if (ino == NULL)
		return NULL;
	ino->path = strdup(path);
	if (ino->path == NULL) {
		free(ino);
		return NULL;
	}
	ino->refs = 1;
	ino->file = file;
	ino->attr = *attr;
	if (extra != NULL) {
		ino->extra = *extra;
		memset(extra, 0, sizeof(*extra));
	}
	ino->published = published;
	pthread_mutex_init(&ino->io, NULL);
	pthread_mutex_init(&ino->lock, NULL);
	return ino;
}

void inode_free(struct fs_inode *ino)
{
	if (ino == NULL)
		return;
	pthread_mutex_destroy(&ino->io);
	pthread_mutex_destroy(&ino->lock);
	os_meta_release(&ino->extra);
	free(ino->path);
	free(ino);
}

/* Called with t->lock held. */
static struct fs_inode *find(struct inode_table *t, const char *path)
{
	for (struct fs_inode *i = t->head; i != NULL; i = i->next) {
		if (strcmp(i->path, path) == 0)
			return i;
	}
	return NULL;
}

/* Called with t->lock held. */
static void detach(struct inode_table *t, struct fs_inode *ino)
{
	if (!ino->linked)
		return;
	if (ino->prev != NULL)
		ino->prev->next = ino->next;
	else
		t->head = ino->next;
	if (ino->next != NULL)
		ino->next->prev = ino->prev;
	ino->prev = ino->next = NULL;
	ino->linked = false;
}

struct fs_inode *inode_insert(struct inode_table *t, struct fs_inode *ino)
{
	struct fs_inode *old;

	pthread_mutex_lock(&t->lock);
	old = find(t, ino->path);
	if (old != NULL) {
		old->refs++;
		pthread_mutex_unlock(&t->lock);
		return old;
	}
	ino->next = t->head;
	if (t->head != NULL)
		t->head->prev = ino;
	t->head = ino;
	ino->linked = true;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

struct fs_inode *inode_get(struct inode_table *t, const char *path)
{
	struct fs_inode *ino;

	pthread_mutex_lock(&t->lock);
	ino = find(t, path);
	if (ino != NULL)
		ino->refs++;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

void inode_ref(struct inode_table *t, struct fs_inode *ino)
{
	pthread_mutex_lock(&t->lock);
	ino->refs++;
	pthread_mutex_unlock(&t->lock);
}

bool inode_unref(struct inode_table *t, struct fs_inode *ino)
{
	bool last;

	pthread_mutex_lock(&t->lock);
	last = --ino->refs == 0;
	if (last)
		detach(t, ino);
	pthread_mutex_unlock(&t->lock);
	return last;
}

char *inode_path(struct inode_table *t, struct fs_inode *ino)
{
	char *p;

	pthread_mutex_lock(&t->lock);
	p = strdup(ino->path);
	pthread_mutex_unlock(&t->lock);
	return p;
}

bool inode_linked(struct inode_table *t, struct fs_inode *ino)
{
	bool linked;

	pthread_mutex_lock(&t->lock);
	linked = ino->linked;
	pthread_mutex_unlock(&t->lock);
	return linked;
}

void inode_unlink(struct inode_table *t, const char *path)
{
	struct fs_inode *ino;

	pthread_mutex_lock(&t->lock);
	ino = find(t, path);
	if (ino != NULL)
		detach(t, ino);
	pthread_mutex_unlock(&t->lock);
}

int inode_rename(struct inode_table *t, const char *from, const char *to)
{
	struct fs_inode *ino, *victim;
	char *p = strdup(to);

	if (p == NULL)
		return ENOMEM;
	pthread_mutex_lock(&t->lock);
	ino = find(t, from);
	victim = find(t, to);
	if (victim != NULL && victim != ino)
		detach(t, victim);
	if (ino != NULL) {
		free(ino->path);
		ino->path = p;
		p = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	free(p);
	return 0;
}

int inode_list_below(struct inode_table *t, const char *dir, struct fs_inode ***out,
		     size_t *n)
{
	struct fs_inode **v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	for (struct fs_inode *i = t->head; i != NULL; i = i->next) {
		if (!fs_path_below(i->path, dir))
			continue;
		if (cnt == cap) {
			struct fs_inode **nv;

			cap = cap ? cap * 2 : 8;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				rc = ENOMEM;
				break;
			}
			v = nv;
		}
		i->refs++;
		v[cnt++] = i;
	}
	if (rc != 0) {
		for (size_t k = 0; k < cnt; k++)
			v[k]->refs--;	/* back to their count: each is >= 1 */
		free(v);
		v = NULL;
		cnt = 0;
	}
	pthread_mutex_unlock(&t->lock);
	*out = v;
	*n = cnt;
	return rc;
}
