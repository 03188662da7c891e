/*
 * log.h - the one logging entry point for every lithfs program.
 *
 * Messages go to stderr while a program runs in the foreground and to syslog
 * once it has daemonized (log_use_syslog()). Levels are syslog's (LOG_ERR ..
 * LOG_DEBUG); messages above the configured level are dropped cheaply.
 * Never pass secrets (keys, Authorization headers, session tokens) to log_msg.
 * Thread-safe: each call writes one whole line.
 */
#ifndef LITHFS_UTIL_LOG_H
#define LITHFS_UTIL_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* ident: program name used as the line prefix and syslog ident (borrowed: must
 * outlive the program). level: most verbose level printed. */
void log_init(const char *ident, int level);
void log_set_level(int level);
int log_get_level(void);
/* Switch to syslog (after daemonizing). */
void log_use_syslog(void);
/* Parse "error|warning|notice|info|debug" (or a syslog number). 0 or EINVAL. */
int log_level_parse(const char *s, int *level);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
