/*
 * journal.h - the multipart-upload journal: no upload left behind by a crash.
 *
 * A process killed (kill -9, OOM, power loss) in the middle of a multipart
 * upload leaves the upload's parts on the server: they cost storage and no
 * listing shows them. The journal wrapper (journal.c) writes one record file
 * per upload it creates into a journal directory and removes it when the
 * upload completes or is aborted. A record names the store (os_id), the key,
 * the upload id and the owner: host name, boot id, PID and the process start
 * time (field 22 of /proc/PID/stat), so a PID reused by another process is not
 * mistaken for the owner. When a store is opened with the journal, records of
 * this store whose owner is provably gone are recovered: the upload is
 * aborted (no such upload counts as done) and the record removed. Uploads of
 * live processes and records written on other hosts are never touched: the
 * journal is per host, even in a home directory shared by Slurm nodes.
 *
 * Record format (text, one "name value" per line, values %XX-escaped so any
 * key fits on one line):
 *   lithfs-upload 1
 *   host node7
 *   boot 2f1d...          (/proc/sys/kernel/random/boot_id)
 *   pidns 4026531836      (inode of /proc/self/ns/pid; optional, 0: unknown)
 *   timens 4026531834     (inode of /proc/self/ns/time; optional)
 *   machine 3d12...       (/etc/machine-id; optional)
 *   pid 4242
 *   start 123456          (clock ticks after boot)
 *   store s3:http://127.0.0.1:7480/bucket
 *   key dir/file%20name
 *   upload 2~abc
 * Files are written 0600 to a temporary name, fsync'ed and renamed into
 * place, so a record is either whole or absent. A record's file name is
 * u-<64-bit hash of store>-<128-bit hash of store, key, upload id>.
 */
#ifndef LITHFS_OBJSTORE_JOURNAL_H
#define LITHFS_OBJSTORE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/buf.h"

struct objstore;

struct os_journal_rec {
	char *host;			/* owned, each string below too */
	char *boot_id;			/* "unknown" when unreadable */
	char *machine_id;		/* /etc/machine-id; NULL: unknown */
	unsigned long long pidns;	/* 0: unknown (older records) */
	unsigned long long timens;	/* 0: unknown (older kernels, records) */
	pid_t pid;
	unsigned long long start;	/* /proc/PID/stat field 22 */
	char *store;			/* os_id() of the store */
	char *key;
	char *upload_id;
};
void os_journal_rec_release(struct os_journal_rec *r);

/* The owner fields (host, boot_id, machine_id, pidns, timens, pid, start) of the calling
 * process. 0 or ENOMEM/EIO (no /proc, or a /proc of another PID namespace). */
int os_journal_self(struct os_journal_rec *r);
/* Appends r as record text to out. 0 or ENOMEM. */
int os_journal_rec_format(const struct os_journal_rec *r, struct buf *out);
/* Parses record text (NUL-terminated) into r. 0, EINVAL (not a whole
 * record) or ENOMEM; on error r holds nothing. */
int os_journal_rec_parse(const char *text, struct os_journal_rec *r);
/* True only when the owner of r is certainly gone: same host and another
 * boot (both boot ids known), or (same PID namespace) no process r->pid, or
 * one started at another time. A record of another host (host name, or
 * machine id when both are known: two hosts with one name sharing a home
 * directory) or of another PID or time namespace of this boot is never
 * "gone": we cannot tell. */
bool os_journal_owner_gone(const struct os_journal_rec *r);

/* The journal directory: $LITHFS_JOURNAL_DIR, else /var/lib/lithfs/uploads
 * for root, $XDG_STATE_HOME/lithfs/uploads, ~/.local/state/lithfs/uploads.
 * NULL when LITHFS_JOURNAL_DIR is "off" (or out of memory). Caller frees. */
char *os_journal_default_dir(void);

/* Calls fn for every whole record in dir (path of the record file, parsed
 * record). fn returns 0 to go on or a positive errno to stop with it.
 * A missing dir is no error. */
typedef int (*os_journal_fn)(void *arg, const char *path, const struct os_journal_rec *r);
int os_journal_scan(const char *dir, os_journal_fn fn, void *arg);
/* The same for the records of one store (os_id) only, as far as the file
 * names tell: records named for other stores are not even opened; fn
 * still checks r->store (records of older versions carry no store in
 * their names). */
int os_journal_scan_store(const char *dir, const char *store, os_journal_fn fn, void *arg);

/* Wraps inner (ownership taken, also on failure) in the journal of dir
 * (created 0700 when missing), after recovering the uploads of gone owners
 * recorded for this store. Recovery aborts through raw (borrowed; NULL:
 * inner): the store under inner's retry wrapper, so that each abort is one
 * attempt; it stops at the first failure or after a few seconds (the rest
 * waits for the next open). A relative dir is made absolute here (a
 * daemon's cwd changes later). A journal that cannot be used (directory not
 * ours, not writable) is logged in one line and left out: *out is inner
 * then, and the return value 0. Only ENOMEM fails. */
int journal_store_create(struct objstore *inner, struct objstore *raw, const char *dir,
			 struct objstore **out);

#endif
