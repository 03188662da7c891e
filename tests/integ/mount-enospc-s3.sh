#!/bin/bash
# mount-enospc-s3.sh - mount-enospc.sh on radosgw (S3_ENDPOINT; exit 77 without it).
set -u
LITHFS_BACKEND=s3 exec bash "${LITHFS_SRC:?}/tests/integ/mount-enospc.sh"
