/*
 * test_util_size.c - util_parse_size: suffixes, case, "iB"/"B", and every
 * refusal (sign, space, junk, overflow, empty).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>

#include "check.h"
#include "util/size.h"

static uint64_t parsed(const char *s)
{
	uint64_t v = 777;

	CHECK_INT(util_parse_size(s, &v), 0);
	return v;
}

static void refused(const char *s)
{
	uint64_t v = 777;

	CHECK_INT(util_parse_size(s, &v), EINVAL);
	CHECK(v == 777);
}

int main(void)
{
	CHECK(parsed("0") == 0);
	CHECK(parsed("100") == 100);
	CHECK(parsed("100B") == 100);
	CHECK(parsed("4k") == 4096);
	CHECK(parsed("16M") == 16u << 20);
	CHECK(parsed("16MiB") == 16u << 20);
	CHECK(parsed("16mb") == 16u << 20);
	CHECK(parsed("2GiB") == 2ULL << 30);
	CHECK(parsed("1T") == 1ULL << 40);
	CHECK(parsed("16777215T") == 16777215ULL << 40);
	refused("");
	refused("-1");
	refused("+1");
	refused(" 1");
	refused("1 ");
	refused("1X");
	refused("M");
	refused("1MiBB");
	refused("16777216T");
	refused("99999999999999999999");
	CHECK_INT(util_parse_size(NULL, &(uint64_t){0}), EINVAL);
	return check_exit();
}
