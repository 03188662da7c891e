/*
 * size.c - util_parse_size (size.h): strtoull on digits only, then a suffix
 * table; the shift is checked against overflow before it is applied.
 */
#include "config.h"
#include "util/size.h"

#include <errno.h>
#include <stdlib.h>

int util_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (s == NULL || *s < '0' || *s > '9')
		return EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift != 0 && *end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || (shift != 0 && v > (UINT64_MAX >> shift)))
		return EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}
