#!/bin/bash
# reliability-journal-s3.sh - reliability-journal.sh on radosgw (S3_ENDPOINT; exit 77 without it).
set -u
LITHFS_BACKEND=s3 exec bash "${LITHFS_SRC:?}/tests/integ/reliability-journal.sh"
