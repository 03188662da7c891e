/*
 * check.h - the minimal assertion helpers of the unit tests.
 *
 * CHECK(cond) records a failure (file:line and the expression) and lets the
 * test go on; check_exit() returns the exit status for main(): 0 when every
 * check passed, 1 otherwise. Each test program prints its own failures only.
 */
#ifndef LITHFS_TESTS_CHECK_H
#define LITHFS_TESTS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

static inline int check_(int ok, const char *expr, const char *file, int line)
{
	check_count++;
	if (!ok) {
		check_failures++;
		fprintf(stderr, "FAIL %s:%d: %s\n", file, line, expr);
	}
	return ok;
}

#define CHECK(cond) check_(!!(cond), #cond, __FILE__, __LINE__)
#define CHECK_INT(a, b) check_((long long)(a) == (long long)(b), #a " == " #b, __FILE__, __LINE__)
#define CHECK_STR(a, b) check_((a) && (b) && strcmp((a), (b)) == 0, #a " eq " #b, __FILE__, __LINE__)

static inline int check_exit(void)
{
	fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
