#!/bin/bash
# build.sh OUTDIR - build the libFuzzer targets with clang (ASan+UBSan+fuzzer).
# Each target compiles the sources it tests directly, so the gcc build of the
# project is not involved. Needs Debian clang-14 and libclang-rt-14-dev.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:?usage: build.sh OUTDIR}
CC=${FUZZ_CC:-$(command -v clang-14 || command -v clang || true)}
[ -n "$CC" ] || { echo "fuzz: clang not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }
mkdir -p "$OUT"
# config.h: the fuzz build needs none of configure's answers but the include.
: > "$OUT/config.h"
FLAGS=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-D_GNU_SOURCE -I"$OUT" -I"$SRC/src" $(pkg-config --cflags libxml-2.0 libcurl))
LIBS=($(pkg-config --libs libxml-2.0 libcurl libcrypto) -lpthread)
U=("$SRC/src/util/buf.c" "$SRC/src/util/log.c")
build() {  # name sources...
	local name=$1; shift
	"$CC" "${FLAGS[@]}" -o "$OUT/$name" "$SRC/tests/fuzz/$name.c" "$@" "${U[@]}" "${LIBS[@]}"
}
build fuzz_s3_xml "$SRC/src/objstore/s3_xml.c" "$SRC/src/objstore/objstore.c"
build fuzz_sigv4 "$SRC/src/objstore/sigv4.c"
build fuzz_source "$SRC/src/objstore/source.c" "$SRC/src/objstore/awsconf.c" \
	"$SRC/src/objstore/awsmeta.c" "$SRC/src/objstore/objstore.c"
build fuzz_chunk "$SRC/src/exec/chunk.c"
FLAGS+=($(pkg-config --cflags fuse3))
LIBS+=($(pkg-config --libs fuse3) -lm)
build fuzz_options "$SRC/src/fs/options.c" "$SRC/src/util/size.c"
echo "fuzz: built $(ls "$OUT"/fuzz_* | wc -l) targets in $OUT"
