#!/bin/bash
# mapdir-mount-s3.sh - mapdir-mount.sh on radosgw; 77 without S3_ENDPOINT.
set -u
LITHFS_BACKEND=s3 exec "$(dirname "$0")/mapdir-mount.sh"
