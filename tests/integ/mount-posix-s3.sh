#!/bin/bash
# mount-posix-s3.sh - mount-posix.sh on radosgw (S3_ENDPOINT; exit 77 without it).
set -u
LITHFS_BACKEND=s3 exec bash "${LITHFS_SRC:?}/tests/integ/mount-posix.sh"
