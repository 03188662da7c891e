/*
 * names.h - how object keys become paths of the mount, and back.
 *
 * The mount shows the keys under a prefix P ("" or "some/prefix/", from the
 * source). The FUSE path "/a/b" is the object P "a/b" (a file or a symlink)
 * or, as a directory, every key starting with P "a/b/", including the marker
 * object P "a/b/" that mkdir writes (s3fs and goofys write the same markers).
 *
 * Keys a filesystem cannot show are hidden, each logged once per mount:
 *   - an empty segment ("a//b"), a "." or ".." segment;
 *   - a name longer than 255 bytes (NAME_MAX);
 *   - a key "x" beside keys under "x/": the directory is shown, the file is
 *     hidden (ONE rule, applied by readdir and by lookup alike).
 * Thread-safe; the "logged once" set is bounded (FS_NAMES_LOG_MAX keys).
 */
#ifndef LITHFS_FS_NAMES_H
#define LITHFS_FS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define FS_NAME_MAX 255
#define FS_NAMES_LOG_MAX 4096

/* The key of path under prefix; dir adds the trailing '/' (the directory's
 * marker and listing prefix; the root is prefix itself, maybe ""). Caller
 * frees *key. 0, ENAMETOOLONG (over the S3 key limit, or a name over
 * FS_NAME_MAX) or ENOMEM. */
int fs_key_of(const char *prefix, const char *path, bool dir, char **key);
/* The path of a key under prefix (the key must start with it); a trailing
 * '/' is dropped. Caller frees. NULL on ENOMEM. */
char *fs_path_of(const char *prefix, const char *key);
/* The name of a listing entry: the part of key (or common prefix) after
 * dir_key, without a trailing '/'. Returns NULL (and *why) when the name is
 * not representable; otherwise a pointer into key and its length in *len. */
const char *fs_entry_name(const char *dir_key, const char *key, size_t *len,
			  const char **why);
/* Logs "hiding key K: why" at LOG_WARNING, once per key and mount. */
void fs_names_log_hidden(const char *key, const char *why);
/* "/a/b/c" -> parent "/a/b" (caller frees), or NULL for "/" or on ENOMEM. */
char *fs_parent_of(const char *path);
/* True when path lies strictly below dir ("/a/b" is below "/a", not "/ab"). */
bool fs_path_below(const char *path, const char *dir);

#endif
