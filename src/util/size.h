/*
 * size.h - the one parser of byte sizes typed by users ("16M", "1GiB", "512k",
 * "4096"), shared by mount.lithfs's -o options and mapdir's --chunk-size.
 */
#ifndef LITHFS_UTIL_SIZE_H
#define LITHFS_UTIL_SIZE_H

#include <stdint.h>

/*
 * Parse S: decimal digits, then an optional binary suffix K, M, G or T (either
 * case, optionally followed by "i"), then an optional "B". A sign, spaces,
 * an empty string or a value that overflows 64 bits are refused.
 * Returns 0 and sets *out, or EINVAL (*out untouched). Zero is accepted: the
 * caller decides whether it makes sense.
 */
int util_parse_size(const char *s, uint64_t *out);

#endif
