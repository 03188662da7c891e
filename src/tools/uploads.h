/*
 * uploads.h - `lithfs uploads list|abort`, the multipart uploads of a store
 * (uploads.c).
 */
#ifndef LITHFS_TOOLS_UPLOADS_H
#define LITHFS_TOOLS_UPLOADS_H

/* Runs `lithfs uploads ...` (argv[1] is "uploads"). Returns the exit status:
 * 0, 1 (a store or abort error) or 2 (usage). */
int tool_uploads_main(int argc, char **argv);

#endif
