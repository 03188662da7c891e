#!/bin/bash
# install-deps.sh - install the Debian 12 packages that building lithfs needs, and with
# --tests / --bench those of the test suite / the benchmarks. Run as root. Idempotent:
# when every package is already installed it returns at once without touching apt.
#
# usage: tests/install-deps.sh [--tests] [--bench]
#
# While apt runs, a temporary /usr/sbin/policy-rc.d (exit 101) keeps Debian from
# auto-starting the packaged munge/slurm/ceph services: the tests start private
# daemons of their own (tests/start-rgw.sh, tests/start-slurm.sh). It is removed on exit,
# and an existing policy-rc.d of the machine is left as it was.
set -euo pipefail

BUILD_PKGS=(autoconf automake libtool pkg-config make gcc libfuse3-dev fuse3
	libcurl4-openssl-dev liblmdb-dev lmdb-utils libxml2-dev libssl-dev attr curl
	uuid-runtime iproute2 procps)
TEST_PKGS=(ceph-mon ceph-osd radosgw awscli slurmctld slurmd slurm-client munge
	python3 rsync git fio clang-14 libclang-rt-14-dev valgrind)
BENCH_PKGS=(s3fs rclone parallel time)

pkgs=("${BUILD_PKGS[@]}")
for arg in "$@"; do
	case "$arg" in
	--tests) pkgs+=("${TEST_PKGS[@]}") ;;
	--bench) pkgs+=("${BENCH_PKGS[@]}") ;;
	-h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "install-deps: unknown argument '$arg' (use --tests, --bench)" >&2; exit 2 ;;
	esac
done

# one dpkg-query for all: it prints "name status" for the packages it knows
installed=" $(dpkg-query -W -f='${Package}:${Status}\n' "${pkgs[@]}" 2>/dev/null \
	| awk -F: '$2 == "install ok installed" {printf "%s ", $1}')"
missing=()
for p in "${pkgs[@]}"; do
	[[ $installed == *" $p "* ]] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#pkgs[@]} packages already installed"
	exit 0
fi
[ "$(id -u)" = 0 ] || { echo "install-deps: must run as root to install: ${missing[*]}" >&2; exit 1; }

POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
	printf '#!/bin/sh\n# temporary, from lithfs tests/install-deps.sh\nexit 101\n' > "$POLICY"
	chmod 755 "$POLICY"
	trap 'rm -f "$POLICY"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=900 -o Dpkg::Use-Pty=0 -q)
echo "install-deps: installing ${missing[*]}"
t0=$(date +%s)
"${APT[@]}" update >/dev/null || echo "install-deps: apt-get update failed; trying the install anyway" >&2
"${APT[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null >/tmp/lithfs-install-deps.log 2>&1 \
	|| { tail -30 /tmp/lithfs-install-deps.log >&2; echo "install-deps: apt-get install failed (full log: /tmp/lithfs-install-deps.log)" >&2; exit 1; }
echo "install-deps: installed ${#missing[@]} packages in $(( $(date +%s) - t0 ))s"
