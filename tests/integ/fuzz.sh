#!/bin/bash
# fuzz.sh - build the libFuzzer targets (tests/fuzz/) with clang ASan+UBSan,
# replay every kept regression input (tests/fuzz/regress/TARGET/), then run
# each target for FUZZ_SECONDS (15) from a seed corpus (the XML and AWS
# fixtures). Any crash, leak or sanitizer report fails the test; the input
# that caused it is left in the log directory to be kept as a regression.
set -u
SRC=${LITHFS_SRC:?}
OUT=${LITHFS_BUILD:?}/tests/fuzz
SECS=${FUZZ_SECONDS:-15}
fail=0

if ! command -v clang-14 >/dev/null && ! command -v clang >/dev/null; then
	echo "fuzz: clang not installed (tests/install-deps.sh --tests installs clang-14)"
	exit 77
fi
bash "$SRC/tests/fuzz/build.sh" "$OUT" || exit 1
cd "$OUT" || exit 1
for t in fuzz_s3_xml fuzz_sigv4 fuzz_source fuzz_chunk fuzz_options; do
	reg=$SRC/tests/fuzz/regress/$t
	if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
		if ! "./$t" -rss_limit_mb=1024 "$reg"/* >"$t.regress.log" 2>&1; then
			echo "FAIL $t: a kept regression input fails again"; tail -20 "$t.regress.log"; fail=1
		fi
	fi
	corpus=$OUT/corpus-$t
	mkdir -p "$corpus"
	case $t in
	fuzz_s3_xml) cp "$SRC"/tests/fixtures/xml/* "$corpus"/ 2>/dev/null ;;
	fuzz_source) cp "$SRC"/tests/fixtures/aws/* "$corpus"/ 2>/dev/null ;;
	fuzz_options)
		printf -- '-o\nendpoint=http://127.0.0.1:1,path_style,ro,uid=1,gid=2,umask=022\nb:/p\n/m' >"$corpus/1"
		printf -- '-f\n-o\ncache_size=1G,block_size=4M,part_size=16M,upload_mem=256M,stat_ttl=1.5\ns3://b/x\n/m' >"$corpus/2"
		printf -- '-o\nio_timeout=2,connect_timeout=1,loglevel=debug,_netdev,x-systemd.automount\nfile:///d/b\n/m' >"$corpus/3" ;;
	esac
	if "./$t" -max_total_time="$SECS" -print_funcs=0 -rss_limit_mb=1024 -artifact_prefix="$OUT/$t-" \
		"$corpus" >"$t.log" 2>&1; then
		echo "ok $t: $(grep -o 'Done [0-9]* runs' "$t.log")"
	else
		echo "FAIL $t:"; grep -E 'ERROR|runtime error|SUMMARY' "$t.log" | head -5
		ls "$OUT/$t-"* 2>/dev/null; fail=1
	fi
done
exit $fail
