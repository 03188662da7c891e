/*
 * test_fs_names.c - key <-> path mapping and the hidden-key rules of the
 * mount (src/fs/names.h).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fs/names.h"
#include "objstore/objstore.h"

static void test_key_of(void)
{
	char *k = NULL;
	char big[OS_KEY_MAX + 8];

	CHECK_INT(fs_key_of("", "/a/b", false, &k), 0);
	CHECK_STR(k, "a/b");
	free(k);
	CHECK_INT(fs_key_of("p/q/", "/a/b", true, &k), 0);
	CHECK_STR(k, "p/q/a/b/");
	free(k);
	CHECK_INT(fs_key_of("p/", "/", true, &k), 0);	/* the root lists the prefix */
	CHECK_STR(k, "p/");
	free(k);
	CHECK_INT(fs_key_of("", "/", true, &k), 0);
	CHECK_STR(k, "");
	free(k);
	memset(big, 'x', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(fs_key_of("", big, false, &k), ENAMETOOLONG);
	memset(big, 'x', 300);	/* one 299-byte name: hidden, so unreachable */
	big[0] = '/';
	big[300] = '\0';
	CHECK_INT(fs_key_of("", big, false, &k), ENAMETOOLONG);
	big[256] = '\0';	/* 255 bytes: fine */
	CHECK_INT(fs_key_of("", big, false, &k), 0);
	free(k);
}

static void test_path_of(void)
{
	char *p = fs_path_of("p/", "p/a/b/");

	CHECK_STR(p, "/a/b");
	free(p);
	p = fs_path_of("", "x");
	CHECK_STR(p, "/x");
	free(p);
}

static void test_entry_name(void)
{
	const char *why = NULL;
	size_t len = 0;
	const char *n;
	char longkey[300];

	n = fs_entry_name("d/", "d/file", &len, &why);
	CHECK(n != NULL && len == 4 && strncmp(n, "file", len) == 0);
	n = fs_entry_name("d/", "d/sub/", &len, &why);
	CHECK(n != NULL && len == 3 && strncmp(n, "sub", len) == 0);
	CHECK(fs_entry_name("d/", "d//", &len, &why) == NULL);	/* "d//x" */
	CHECK(why != NULL);
	CHECK(fs_entry_name("d/", "d/./", &len, &why) == NULL);
	CHECK(fs_entry_name("d/", "d/..", &len, &why) == NULL);
	CHECK(fs_entry_name("", "...", &len, &why) != NULL);	/* a fine name */
	memset(longkey, 'n', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	CHECK(fs_entry_name("", longkey, &len, &why) == NULL);
	longkey[255] = '\0';
	CHECK(fs_entry_name("", longkey, &len, &why) != NULL && len == 255);
}

static void test_parent_below(void)
{
	char *p = fs_parent_of("/a/b/c");

	CHECK_STR(p, "/a/b");
	free(p);
	p = fs_parent_of("/a");
	CHECK_STR(p, "/");
	free(p);
	CHECK(fs_parent_of("/") == NULL);
	CHECK(fs_path_below("/a/b", "/a"));
	CHECK(!fs_path_below("/ab", "/a"));
	CHECK(!fs_path_below("/a", "/a"));
	CHECK(fs_path_below("/a", "/"));
	CHECK(!fs_path_below("/", "/"));
}

int main(void)
{
	test_key_of();
	test_path_of();
	test_entry_name();
	test_parent_below();
	fs_names_log_hidden("x//y", "test");	/* must not crash, logs once */
	fs_names_log_hidden("x//y", "test");
	return check_exit();
}
