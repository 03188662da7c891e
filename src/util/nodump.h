/*
 * nodump.h - keep credentials out of core dumps: the programs that hold
 * them (mount.lithfs, mapdir and its workers, lithfs) make themselves
 * non-dumpable at start.
 */
#ifndef LITHFS_UTIL_NODUMP_H
#define LITHFS_UTIL_NODUMP_H

/*
 * prctl(PR_SET_DUMPABLE, 0): no core dump of this process (with the usual
 * fs.suid_dumpable=0) and no ptrace or /proc/PID/mem, environ, maps... by
 * other processes of the same user; root still can. Not inherited by the
 * programs mapdir executes (execve resets it), so their core dumps are
 * unaffected. LITHFS_DUMPABLE=1 in the environment skips it (to debug a
 * crash with a core dump). Best effort: a failure is logged at debug level.
 */
void util_nodump(void);

#endif
