/*
 * oscheck.h - checks on object stores shared by the object-store tests
 * (tests/unit/test_objstore.c, test_upload.c and tests/osops.c): GET into a
 * buffer, compare an object's bytes, and a whole listing (all pages) as one
 * line of text "key [prefix] ..." in the order S3 defines.
 */
#ifndef LITHFS_TESTS_OSCHECK_H
#define LITHFS_TESTS_OSCHECK_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objstore/objstore.h"
#include "util/buf.h"
#include "check.h"

/* strcmp for CHECK: NULL never equals (CHECK_STR objects to arrays). */
static inline bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static inline int sink_buf(void *arg, const void *data, size_t len)
{
	return buf_append(arg, data, len);
}

/* GETs key[off, off+len) into b (reset first). */
static inline int get_buf(struct objstore *s, const char *key, uint64_t off, uint64_t len,
			  const char *etag, struct buf *b)
{
	buf_reset(b);
	return os_get(s, key, off, len, etag, sink_buf, b);
}

/* Whether key holds exactly want[0, len). */
static inline bool get_is(struct objstore *s, const char *key, const void *want, size_t len)
{
	struct buf b = BUF_INIT;
	bool ok;

	ok = get_buf(s, key, 0, OS_RANGE_TO_END, NULL, &b) == 0 && b.len == len &&
	     (len == 0 || memcmp(b.data, want, len) == 0);
	buf_release(&b);
	return ok;
}

/* All pages of a listing as "key [prefix] ...", strip bytes cut off the
 * front of each; the number of pages in *pages. Checks each page's size
 * and order on the way. */
static inline char *list_text(struct objstore *s, const char *prefix, const char *delim,
			      int max_keys, size_t strip, int *pages)
{
	struct buf out = BUF_INIT;
	struct os_list_page p;
	char *token = NULL;
	size_t i, ie, ip;
	int n = 0;

	do {
		if (!CHECK_INT(os_list(s, prefix, delim, token, max_keys, &p), 0))
			break;
		free(token);
		token = p.next_token ? strdup(p.next_token) : NULL;
		/* merge entries and prefixes back into key order */
		for (ie = 0, ip = 0; ie < p.n_entries || ip < p.n_prefixes;) {
			if (ip == p.n_prefixes ||
			    (ie < p.n_entries && strcmp(p.entries[ie].key, p.prefixes[ip]) < 0))
				buf_appendf(&out, "%s ", p.entries[ie++].key + strip);
			else
				buf_appendf(&out, "[%s] ", p.prefixes[ip++] + strip);
		}
		CHECK(p.n_entries + p.n_prefixes <= (size_t)(max_keys ? max_keys : 1000));
		for (i = 1; i < p.n_entries; i++)
			CHECK(strcmp(p.entries[i - 1].key, p.entries[i].key) < 0);
		os_list_page_release(&p);
		n++;
	} while (token && n < 2000);
	free(token);
	if (pages)
		*pages = n;
	if (out.len)
		out.data[--out.len] = '\0';
	return buf_detach(&out);
}

/* Checks the listing is want, in want_pages pages (0: any number). */
static inline void check_list_text(struct objstore *s, const char *prefix, const char *delim,
				   int max_keys, size_t strip, const char *want, int want_pages)
{
	int pages = 0;
	char *got = list_text(s, prefix, delim, max_keys, strip, &pages);

	if (!CHECK(streq(got, want)))
		fprintf(stderr, "  list prefix=%s delim=%s max=%d:\n   got  '%s'\n   want '%s'\n",
			prefix ? prefix : "", delim ? delim : "(none)", max_keys, got, want);
	if (want_pages && !CHECK_INT(pages, want_pages))
		fprintf(stderr, "  list prefix=%s delim=%s max=%d: %d pages, want %d\n",
			prefix ? prefix : "", delim ? delim : "(none)", max_keys, pages,
			want_pages);
	free(got);
}

#endif
