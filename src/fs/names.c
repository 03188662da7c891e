/*
 * names.c - key <-> path mapping and the rules for keys the mount cannot
 * show (see names.h). The "logged once" set is an open-addressing table of
 * 64-bit FNV-1a hashes of the keys; a hash collision only costs a missing
 * log line. Once full, one last line says further keys are not logged.
 */
#include "config.h"
#include "fs/names.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objstore/objstore.h"
#include "util/log.h"

#define LOG_SLOTS (FS_NAMES_LOG_MAX * 2)

static pthread_mutex_t logged_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t logged[LOG_SLOTS];	/* protected by logged_lock; 0 = empty */
static size_t n_logged;			/* protected by logged_lock */

/* True when no segment of rel is longer than FS_NAME_MAX: FUSE lets names
 * up to 1024 bytes through, but such keys are hidden (names.h). */
static bool segments_fit(const char *rel)
{
	size_t run = 0;

	for (; *rel != '\0'; rel++) {
		run = *rel == '/' ? 0 : run + 1;
		if (run > FS_NAME_MAX)
			return false;
	}
	return true;
}

int fs_key_of(const char *prefix, const char *path, bool dir, char **key)
{
	size_t plen = strlen(prefix);
	const char *rel = path[0] == '/' ? path + 1 : path;
	size_t rlen = strlen(rel);
	size_t len = plen + rlen + (dir && rlen > 0 ? 1 : 0);
	char *k;

	if (len > OS_KEY_MAX || !segments_fit(rel))
		return ENAMETOOLONG;
	k = malloc(len + 1);
	if (k == NULL)
		return ENOMEM;
	memcpy(k, prefix, plen);
	memcpy(k + plen, rel, rlen);
	if (dir && rlen > 0)
		k[plen + rlen] = '/';
	k[len] = '\0';
	*key = k;
	return 0;
}

char *fs_path_of(const char *prefix, const char *key)
{
	const char *rel = key + strlen(prefix);
	size_t len = strlen(rel);
	char *p;

	if (len > 0 && rel[len - 1] == '/')
		len--;
	p = malloc(len + 2);
	if (p == NULL)
		return NULL;
	p[0] = '/';
	memcpy(p + 1, rel, len);
	p[len + 1] = '\0';
	return p;
}

const char *fs_entry_name(const char *dir_key, const char *key, size_t *len,
			  const char **why)
{
	const char *name = key + strlen(dir_key);
	size_t n = strlen(name);

	if (n > 0 && name[n - 1] == '/')
		n--;
	if (n == 0) {
		*why = "empty path segment";
		return NULL;
	}
	if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.')) {
		*why = "\".\" or \"..\" path segment";
		return NULL;
	}
	if (n > FS_NAME_MAX) {
		*why = "name longer than 255 bytes";
		return NULL;
	}
	*len = n;
	return name;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h == 0 ? 1 : h;
}

/* True the first time h is seen (and recorded). */
static bool logged_first(uint64_t h)
{
	size_t i = (size_t)(h % LOG_SLOTS);
	bool first = false;

	pthread_mutex_lock(&logged_lock);
	while (logged[i] != 0 && logged[i] != h)
		i = (i + 1) % LOG_SLOTS;
	if (logged[i] == 0 && n_logged < FS_NAMES_LOG_MAX) {
		logged[i] = h;
		n_logged++;
		first = true;
		if (n_logged == FS_NAMES_LOG_MAX)
			log_msg(LOG_WARNING, "%d hidden keys logged; further ones are not",
				FS_NAMES_LOG_MAX);
	}
	pthread_mutex_unlock(&logged_lock);
	return first;
}

void fs_names_log_hidden(const char *key, const char *why)
{
	if (logged_first(fnv1a(key)))
		log_msg(LOG_WARNING, "hiding key \"%s\": %s (see mount.lithfs(8), KEYS)",
			key, why);
}

char *fs_parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t len;
	char *p;

	if (slash == NULL || path[1] == '\0')
		return NULL;
	len = slash == path ? 1 : (size_t)(slash - path);
	p = malloc(len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, path, len);
	p[len] = '\0';
	return p;
}

bool fs_path_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return path[0] == '/' && path[1] != '\0';
	return strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1] != '\0';
}
