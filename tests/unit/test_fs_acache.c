/*
 * test_fs_acache.c - the attribute cache: TTL, negative entries, listing
 * merges that keep known metadata, forgetting a subtree, the checks an open
 * may use once, the kernel's cached ETag, complete marks (src/fs/acache.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fs/acache.h"

static struct fs_attr file_attr(const char *etag, int64_t lm, mode_t mode, bool known)
{
	struct fs_attr a;

	memset(&a, 0, sizeof(a));
	a.mode = S_IFREG | mode;
	a.size = 10;
	a.lm_ns = lm;
	strcpy(a.etag, etag);
	a.meta_known = known;
	return a;
}

int main(void)
{
	struct acache *c = NULL;
	struct fs_attr a, got;

	CHECK_INT(acache_create(0.2, 0.1, &c), 0);
	CHECK_INT(acache_get(c, "/x", &got), EAGAIN);
	acache_put_negative(c, "/x");
	CHECK_INT(acache_get(c, "/x", &got), ENOENT);
	usleep(150000);
	CHECK_INT(acache_get(c, "/x", &got), EAGAIN);	/* negative expired */

	a = file_attr("e1", 5, 0600, true);	/* from a HEAD */
	acache_put(c, "/f", &a);
	a = file_attr("e1", 5, 0644, false);	/* same version, listed */
	acache_put_listed(c, "/f", &a);
	CHECK_INT(acache_get(c, "/f", &got), 0);
	CHECK_INT(got.mode, S_IFREG | 0600);	/* known metadata kept */
	a = file_attr("h1", 7000000000LL, 0600, true);	/* HEAD: whole seconds */
	acache_put(c, "/h", &a);
	a = file_attr("h1", 7000000123LL, 0644, false);	/* listing: milliseconds */
	acache_put_listed(c, "/h", &a);
	CHECK_INT(acache_get(c, "/h", &got), 0);
	CHECK_INT(got.mode, S_IFREG | 0600);
	a = file_attr("e2", 6000000000LL, 0644, false);	/* changed by someone else */
	acache_put_listed(c, "/f", &a);
	CHECK_INT(acache_get(c, "/f", &got), 0);
	CHECK_INT(got.mode, S_IFREG | 0644);
	CHECK(strcmp(got.etag, "e2") == 0);

	a = file_attr("e3", 0, 0600, true);	/* our own upload: LM unknown */
	acache_put(c, "/g", &a);
	a = file_attr("e3", 77, 0644, false);
	acache_put_listed(c, "/g", &a);
	CHECK_INT(acache_get(c, "/g", &got), 0);
	CHECK_INT(got.mode, S_IFREG | 0600);
	CHECK_INT(got.lm_ns, 77);		/* learnt from the listing */

	usleep(250000);
	CHECK_INT(acache_get(c, "/f", &got), EAGAIN);	/* expired */

	acache_put(c, "/d", &a);
	acache_put(c, "/d/e", &a);
	acache_put(c, "/d/e/f", &a);
	acache_put(c, "/de", &a);
	acache_forget_below(c, "/d");
	CHECK_INT(acache_get(c, "/d", &got), EAGAIN);
	CHECK_INT(acache_get(c, "/d/e/f", &got), EAGAIN);
	CHECK_INT(acache_get(c, "/de", &got), 0);
	a = file_attr("m1", 9, 0700, true);	/* a directory rename keeps what is known */
	acache_put(c, "/src/x", &a);
	acache_put(c, "/src/sub/y", &a);
	acache_put(c, "/srcx", &a);
	acache_move_below(c, "/src", "/dst");
	CHECK_INT(acache_get(c, "/src/x", &got), EAGAIN);
	CHECK_INT(acache_get(c, "/dst/x", &got), 0);
	CHECK_INT(got.mode, S_IFREG | 0700);
	CHECK_INT(got.lm_ns, 0);
	CHECK_INT(acache_get(c, "/dst/sub/y", &got), 0);
	CHECK_INT(acache_get(c, "/srcx", &got), 0);
	CHECK_INT(acache_get(c, "/dstx", &got), EAGAIN);
	for (int i = 0; i < 5000; i++) {	/* growth */
		char p[32];

		snprintf(p, sizeof(p), "/n%d", i);
		acache_put(c, p, &a);
	}
	CHECK_INT(acache_get(c, "/n4999", &got), 0);
	acache_destroy(c);

	CHECK_INT(acache_create(5, 0.2, &c), 0);	/* complete directories */
	CHECK(!acache_is_complete(c, "/d"));
	acache_put(c, "/d/a", &a);
	acache_set_complete(c, "/d", 1);
	CHECK(acache_is_complete(c, "/d"));
	CHECK(acache_relist_worth(c, "/d", 0));
	CHECK_INT(acache_get(c, "/d", &got), EAGAIN);	/* the mark is no entry */
	acache_forget_below(c, "/x");		/* any removal voids the marks */
	CHECK(!acache_is_complete(c, "/d"));
	acache_set_complete(c, "/d", 1);
	usleep(250000);				/* lives min(ttl, neg_ttl) */
	CHECK(!acache_is_complete(c, "/d"));
	CHECK(acache_relist_worth(c, "/d", 1000000000));
	CHECK(!acache_relist_worth(c, "/d", 0));
	acache_set_complete(c, "/big", ACACHE_RELIST_MAX + 1);
	CHECK(acache_is_complete(c, "/big"));
	CHECK(!acache_relist_worth(c, "/big", 1000000000));
	acache_destroy(c);

	/* A listing's mark never outlives its entries: it counts from the
	 * listing's start (a mark counted from its end said "missing" for a
	 * listed name: reliability-faults, mapdir output f132) */
	CHECK_INT(acache_create(0.2, 0.3, &c), 0);
	{
		struct acache_stamp since;
		int bad = 0;

		acache_stamp(c, &since);
		acache_put_listed(c, "/l/a", &a);
		usleep(100000);			/* the rest of a slow listing */
		acache_set_complete_since(c, "/l", 1, &since);
		for (int i = 0; i < 40; i++) {	/* 0.4 s: past both */
			if (acache_is_complete(c, "/l") && acache_get(c, "/l/a", &got) != 0)
				bad++;
			usleep(10000);
		}
		CHECK_INT(bad, 0);
		CHECK(!acache_is_complete(c, "/l"));
		acache_stamp(c, &since);	/* a removal during the listing */
		acache_put_listed(c, "/l/a", &a);
		acache_forget(c, "/l/a");
		acache_set_complete_since(c, "/l", 1, &since);
		CHECK(!acache_is_complete(c, "/l"));
	}
	acache_destroy(c);

	CHECK_INT(acache_create(5, 5, &c), 0);	/* checks for open, kernel ETag */
	{
		struct os_meta m = { NULL, 0 }, extra = { NULL, 0 };

		CHECK_INT(os_meta_set(&m, "mode", "33188"), 0);
		CHECK_INT(os_meta_set(&m, "color", "blue"), 0);
		a = file_attr("\"e1\"", 1000000000, 0644, true);
		CHECK_INT(acache_put_head(c, "/f", &a, &m, true), 0);
		CHECK_INT(acache_take_checked(c, "/f", 1000000000, &got, &extra), 0);
		CHECK_STR(got.etag, "\"e1\"");
		CHECK_INT((int)extra.n, 1);	/* attributes are not "extra" */
		CHECK_STR(os_meta_get(&extra, "color"), "blue");
		os_meta_release(&extra);
		/* used up */
		CHECK_INT(acache_take_checked(c, "/f", 1000000000, &got, &extra), EAGAIN);
		acache_put_listed(c, "/f", &a);	/* the same version listed: a check */
		CHECK_INT(acache_take_checked(c, "/f", 1000000000, &got, &extra), 0);
		os_meta_release(&extra);
		CHECK_INT(acache_put_head(c, "/f", &a, &m, false), 0);	/* open's own */
		CHECK_INT(acache_take_checked(c, "/f", 1000000000, &got, &extra), EAGAIN);
		CHECK_INT(acache_put_head(c, "/f", &a, &m, true), 0);
		usleep(20000);
		CHECK_INT(acache_take_checked(c, "/f", 10000000, &got, &extra), EAGAIN);

		CHECK(!acache_kernel_etag(c, "/f", "\"e1\""));	/* first open */
		CHECK(acache_kernel_etag(c, "/f", "\"e1\""));	/* unchanged */
		acache_put(c, "/f", &a);			/* same version */
		CHECK(acache_kernel_etag(c, "/f", "\"e1\""));
		a = file_attr("\"e2\"", 2000000000, 0644, true);
		acache_put_listed(c, "/f", &a);			/* changed */
		CHECK(!acache_kernel_etag(c, "/f", "\"e1\""));
		CHECK(!acache_kernel_etag(c, "/f", "\"e2\""));
		CHECK(acache_kernel_etag(c, "/f", "\"e2\""));
		acache_forget(c, "/f");
		CHECK(!acache_kernel_etag(c, "/f", "\"e2\""));
		CHECK_INT(acache_peek(c, "/f", &got), EAGAIN);
		os_meta_release(&m);
	}
	acache_destroy(c);
	return check_exit();
}
