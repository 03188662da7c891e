#!/bin/bash
# awsconf-rgw.sh - where settings and credentials come from, checked against a
# server that verifies signatures (radosgw): each variant opens a source with
# os_open() and lists the bucket (tests/awsconf_probe --open), as a mount does.
#   1. a profile: endpoint in the config file's "s3 =" sub-section, keys in a
#      0600 credentials file; refused once the file is 0644
#   2. an s3fs passwd file: the BUCKET: line is picked for this bucket (the
#      default line holds a wrong key), refused when 0644
#   3. AWS_ENDPOINT_URL_S3 beats a dead AWS_ENDPOINT_URL; the option beats both
#   4. wrong keys and unsigned requests are refused by the server; no secret
#      appears in any output
#   5. source forms (BUCKET:/prefix, s3://BUCKET/prefix/) and a bad bucket name
# Needs S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (skip otherwise).
set -u

BUILD=${LITHFS_BUILD:?set LITHFS_BUILD}
PROBE=$BUILD/tests/awsconf_probe
[ -x "$PROBE" ] || { echo "FAIL: $PROBE not built (make check builds it)"; exit 1; }
if [ -z "${S3_ENDPOINT:-}" ] || [ -z "${AWS_ACCESS_KEY_ID:-}" ] || [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; then
	echo "SKIP: no S3_ENDPOINT/AWS credentials (start radosgw with tests/start-rgw.sh)"
	exit 77
fi
command -v aws >/dev/null || { echo "SKIP: the aws CLI is not installed"; exit 77; }

KEY=$AWS_ACCESS_KEY_ID
SECRET=$AWS_SECRET_ACCESS_KEY
REGION=${AWS_DEFAULT_REGION:-us-east-1}
BUCKET=lithfs-awsconf-$$-$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/awsconf-rgw.XXXXXX")
fails=0

s3() {
	env -u AWS_CA_BUNDLE AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
		AWS_DEFAULT_REGION="$REGION" timeout 120 aws --endpoint-url "$S3_ENDPOINT" s3 "$@"
}
cleanup() {
	s3 rb --force "s3://$BUCKET" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT
s3 mb "s3://$BUCKET" >"$WORK/mb.out" 2>&1 || { echo "FAIL: cannot create bucket $BUCKET"; cat "$WORK/mb.out"; exit 1; }

# probe_open NAME SOURCE [KEY=VALUE...] -- VAR=VALUE...: the probe with only the
# given AWS environment; output in $WORK/NAME.out, returns its status.
probe_open() {
	local name=$1 source=$2 rc
	local -a opts=() envs=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	envs=("$@")
	env -i PATH="$PATH" HOME="$WORK" AWS_CONFIG_FILE="$WORK/none" \
		AWS_SHARED_CREDENTIALS_FILE="$WORK/none" AWS_EC2_METADATA_DISABLED=true \
		AWS_REGION="$REGION" "${envs[@]}" \
		timeout 60 "$PROBE" --open "$source" "${opts[@]}" >"$WORK/$name.out" 2>&1
	rc=$?
	sed "s/^/  $name: /" "$WORK/$name.out"
	return $rc
}

expect() {  # expect DESCRIPTION WANT_STATUS STATUS [NAME PATTERN]
	local what=$1 want=$2 got=$3
	if [ "$got" -ne "$want" ]; then
		echo "FAIL: $what (exit $got, want $want)"
		fails=$((fails + 1))
	elif [ $# -ge 5 ] && ! grep -q -- "$5" "$WORK/$4.out"; then
		echo "FAIL: $what (no '$5' in the output)"
		fails=$((fails + 1))
	else
		echo "ok: $what"
	fi
}

# ---------------------------------------------------------------- 1. profile
cat >"$WORK/config" <<EOF
# written by awsconf-rgw.sh
[default]
region = nowhere-1

[profile rgw]
region = $REGION   ; inline comment
s3 =
    endpoint_url = $S3_ENDPOINT
    addressing_style = path
EOF
printf '[rgw]\r\naws_access_key_id = %s\r\naws_secret_access_key = %s\r\n' "$KEY" "$SECRET" \
	>"$WORK/credentials"
chmod 600 "$WORK/credentials"
PROFILE_ENV=(AWS_CONFIG_FILE="$WORK/config" AWS_SHARED_CREDENTIALS_FILE="$WORK/credentials")

probe_open profile "s3://$BUCKET" -- "${PROFILE_ENV[@]}" AWS_PROFILE=rgw
expect "profile from AWS_PROFILE opens and lists the bucket" 0 $? profile "open ok s3:$S3_ENDPOINT/$BUCKET"
probe_open profile-opt "$BUCKET" profile=rgw -- "${PROFILE_ENV[@]}" \
	AWS_ACCESS_KEY_ID=AKIDWRONG AWS_SECRET_ACCESS_KEY=wrong-secret-123
expect "profile= option outranks wrong keys in the environment" 0 $? profile-opt "open ok"
chmod 644 "$WORK/credentials"
probe_open profile-644 "$BUCKET" -- "${PROFILE_ENV[@]}" AWS_PROFILE=rgw
expect "a 0644 credentials file is refused" 2 $? profile-644 "run chmod 600"
chmod 600 "$WORK/credentials"
probe_open profile-missing "$BUCKET" -- "${PROFILE_ENV[@]}" AWS_PROFILE=nope
expect "a missing profile is named" 2 $? profile-missing "profile 'nope' not found"

# ---------------------------------------------------------------- 2. passwd file
printf '# s3fs format\nAKIDWRONG:wrong-default-secret\n%s:%s:%s\n' "$BUCKET" "$KEY" "$SECRET" \
	>"$WORK/passwd"
chmod 600 "$WORK/passwd"
probe_open passwd "$BUCKET" passwd_file="$WORK/passwd" -- AWS_ENDPOINT_URL="$S3_ENDPOINT"
expect "passwd file: the BUCKET: line is used for this bucket" 0 $? passwd "open ok"
printf '%s:%s:%s\nAKIDWRONG:wrong-default-secret\n' "other-$BUCKET" "$KEY" "$SECRET" \
	>"$WORK/passwd"
probe_open passwd-default "$BUCKET" passwd_file="$WORK/passwd" -- AWS_ENDPOINT_URL="$S3_ENDPOINT"
expect "passwd file: the default line (wrong key) is used for another bucket" 2 $? \
	passwd-default "Permission denied"
chmod 644 "$WORK/passwd"
probe_open passwd-644 "$BUCKET" passwd_file="$WORK/passwd" -- AWS_ENDPOINT_URL="$S3_ENDPOINT"
expect "a 0644 passwd file is refused" 2 $? passwd-644 "run chmod 600"

# ---------------------------------------------------------------- 3. endpoints
KEYS_ENV=(AWS_ACCESS_KEY_ID="$KEY" AWS_SECRET_ACCESS_KEY="$SECRET")
probe_open ep-s3 "$BUCKET" -- "${KEYS_ENV[@]}" AWS_ENDPOINT_URL=http://127.0.0.1:1 \
	AWS_ENDPOINT_URL_S3="$S3_ENDPOINT"
expect "AWS_ENDPOINT_URL_S3 beats AWS_ENDPOINT_URL" 0 $? ep-s3 "open ok"
probe_open ep-opt "$BUCKET" endpoint="$S3_ENDPOINT" -- "${KEYS_ENV[@]}" \
	AWS_ENDPOINT_URL_S3=http://127.0.0.1:1
expect "the endpoint option beats the environment" 0 $? ep-opt "open ok"
probe_open ep-bad "$BUCKET" endpoint="$S3_ENDPOINT/$BUCKET" -- "${KEYS_ENV[@]}"
expect "an endpoint with a path is refused" 2 $? ep-bad "must not have a path"

# ---------------------------------------------------------------- 4. refusals
probe_open wrong "$BUCKET" -- AWS_ENDPOINT_URL="$S3_ENDPOINT" AWS_ACCESS_KEY_ID="$KEY" \
	AWS_SECRET_ACCESS_KEY=lithfs-wrong-secret-42
expect "a wrong secret is refused by the server" 2 $? wrong "Permission denied"
probe_open nosign "$BUCKET" no_sign=1 -- AWS_ENDPOINT_URL="$S3_ENDPOINT" "${KEYS_ENV[@]}"
expect "unsigned requests to a private bucket are refused" 2 $? nosign "Permission denied"
probe_open nokeys "$BUCKET" -- AWS_ENDPOINT_URL="$S3_ENDPOINT"
expect "no credentials at all" 2 $? nokeys "no AWS credentials found"
if grep -q -e "$SECRET" -e lithfs-wrong-secret -e wrong-default-secret "$WORK"/*.out; then
	echo "FAIL: a secret appears in the output"
	fails=$((fails + 1))
else
	echo "ok: no secret in any output"
fi

# ---------------------------------------------------------------- 5. sources
probe_open src-colon "$BUCKET:/some/prefix" -- AWS_ENDPOINT_URL="$S3_ENDPOINT" "${KEYS_ENV[@]}"
expect "BUCKET:/prefix opens" 0 $? src-colon "open ok"
probe_open src-url "s3://$BUCKET/some/prefix/" -- AWS_ENDPOINT_URL="$S3_ENDPOINT" "${KEYS_ENV[@]}"
expect "s3://BUCKET/prefix/ opens" 0 $? src-url "open ok"
probe_open src-bad "Bad_Bucket:/x" -- AWS_ENDPOINT_URL="$S3_ENDPOINT" "${KEYS_ENV[@]}"
expect "a bad bucket name is one clear line" 2 $? src-bad "invalid bucket name 'Bad_Bucket'"
[ "$(wc -l <"$WORK/src-bad.out")" -eq 1 ] || { echo "FAIL: more than one line"; fails=$((fails + 1)); }

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all checks passed"
