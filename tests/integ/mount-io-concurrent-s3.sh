#!/bin/bash
# mount-io-concurrent-s3.sh - mount-io-concurrent.sh on radosgw (S3_ENDPOINT; exit 77 without it).
set -u
LITHFS_BACKEND=s3 exec bash "${LITHFS_SRC:?}/tests/integ/mount-io-concurrent.sh"
