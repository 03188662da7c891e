#!/bin/bash
# mount-bigwrite-s3.sh - mount-bigwrite.sh on radosgw (S3_ENDPOINT; exit 77 without it).
set -u
LITHFS_BACKEND=s3 exec bash "${LITHFS_SRC:?}/tests/integ/mount-bigwrite.sh"
