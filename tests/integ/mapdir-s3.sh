#!/bin/bash
# mapdir-s3.sh - mapdir-store.sh against radosgw (s3:// URLs); 77 without S3_ENDPOINT.
set -u
MAPDIR_STORE=s3 exec "$(dirname "$0")/mapdir-store.sh"
