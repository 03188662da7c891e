#!/bin/bash
# reliability-cache-s3.sh - reliability-cache.sh on radosgw (S3_ENDPOINT; exit 77 without it).
set -u
LITHFS_BACKEND=s3 exec bash "${LITHFS_SRC:?}/tests/integ/reliability-cache.sh"
