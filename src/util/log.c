/*
 * log.c - stderr/syslog logging with one formatted line per call.
 *
 * State is three globals written at start-up (ident, level, syslog flag) and
 * read by any thread afterwards; the level is atomic so `-o loglevel` changes
 * are safe. A line is formatted into a stack buffer and written with one
 * write(2) so concurrent threads never interleave inside a line.
 */
#include "config.h"
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "lithfs";
static int log_level_cur = LOG_NOTICE;
static bool log_syslog;

void log_init(const char *ident, int level)
{
	log_ident = ident;
	__atomic_store_n(&log_level_cur, level, __ATOMIC_RELAXED);
}

void log_set_level(int level)
{
	__atomic_store_n(&log_level_cur, level, __ATOMIC_RELAXED);
}

int log_get_level(void)
{
	return __atomic_load_n(&log_level_cur, __ATOMIC_RELAXED);
}

void log_use_syslog(void)
{
	openlog(log_ident, LOG_PID, LOG_DAEMON);
	log_syslog = true;
}

int log_level_parse(const char *s, int *level)
{
	static const struct { const char *name; int level; } names[] = {
		{ "error", LOG_ERR }, { "err", LOG_ERR }, { "warning", LOG_WARNING },
		{ "warn", LOG_WARNING }, { "notice", LOG_NOTICE }, { "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
	};
	char *end;
	long v;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*level = names[i].level;
			return 0;
		}
	}
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < LOG_EMERG || v > LOG_DEBUG)
		return EINVAL;
	*level = (int)v;
	return 0;
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE: return "notice";
	case LOG_INFO: return "info";
	default: return "debug";
	}
}

void log_msg(int level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int saved = errno;
	int n;

	if (level > log_get_level())
		return;
	va_start(ap, fmt);
	if (log_syslog) {
		vsyslog(level, fmt, ap);
		va_end(ap);
		errno = saved;
		return;
	}
	n = snprintf(line, sizeof(line), "%s: %s: ", log_ident, level_name(level));
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
	errno = saved;
}
