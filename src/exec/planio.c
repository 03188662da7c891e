/*
 * planio.c - plan objects and result records (see planio.h for the format).
 *
 * Parsing is line by line: a line is split at spaces into at most MAX_FIELDS
 * fields, each decoded in place; the first field says what the line is.
 * Unknown line kinds are ignored so a newer coordinator can add some.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec/planio.h"

#define PLANIO_MAGIC "mapdir-plan 1"
#define MAX_FIELDS 13

static bool needs_escape(unsigned char c)
{
	return c <= ' ' || c == '%' || c == '~' || c == 0x7f;
}

static int put_str(struct buf *b, const char *s)
{
	int e = 0;

	if (!s)
		return buf_append_str(b, " ~");
	e = buf_append_str(b, *s ? " " : " %00");	/* empty: a field still */
	for (const unsigned char *p = (const unsigned char *)s; !e && *p; p++)
		e = needs_escape(*p) ? buf_appendf(b, "%%%02X", *p) : buf_append(b, p, 1);
	return e;
}

/* Decodes field f in place; NULL for "~". */
static char *decode(char *f)
{
	char *w = f;

	if (strcmp(f, "~") == 0)
		return NULL;
	for (const char *r = f; *r; r++) {
		unsigned v;

		if (*r == '%' && sscanf(r + 1, "%2x", &v) == 1) {
			if (v)
				*w++ = (char)v;
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return f;
}

/* Splits line (modified) into fields; returns how many. */
static int split(char *line, char **f)
{
	int n = 0;

	for (char *s = strtok(line, " "); s && n < MAX_FIELDS; s = strtok(NULL, " "))
		f[n++] = s;
	return n;
}

static uint64_t num(const char *s)
{
	return s ? strtoull(s, NULL, 10) : 0;
}

void planio_settings_release(struct planio_settings *s)
{
	free(s->in_url);
	free(s->out_url);
	free(s->path);
	free(s->command);
	free(s->stage_rel);
	for (char **a = s->argv; a && *a; a++)
		free(*a);
	free(s->argv);
	memset(s, 0, sizeof(*s));
}

static int format_task(struct buf *b, const struct plan *p, const struct task *t)
{
	const struct loc_input *in = &p->inputs.v[t->file];
	int e = buf_appendf(b, "task %zu %" PRIu64 " %" PRId64, t->seq, in->size, in->mtime_ns);

	if (!e)
		e = put_str(b, in->etag);
	if (!e)
		e = buf_appendf(b, " %" PRIu64 " %" PRIu64 " %u %u", t->off, t->len, t->part,
				t->parts);
	if (!e)
		e = put_str(b, in->rel);
	if (!e)
		e = put_str(b, t->out_rel);
	if (!e)
		e = put_str(b, t->log_rel);
	return e ? e : buf_append(b, "\n", 1);
}

int planio_format(struct buf *b, const struct planio_settings *s, const struct plan *p,
		  const size_t *idx, size_t n, const struct planio_shard *shards,
		  size_t n_shards)
{
	int e = buf_append_str(b, PLANIO_MAGIC "\nin");

	if (!e)
		e = put_str(b, s->in_url);
	if (!e)
		e = buf_append_str(b, "\nout");
	if (!e)
		e = put_str(b, s->out_url);
	if (!e)
		e = buf_append_str(b, "\npath");
	if (!e)
		e = put_str(b, s->path);
	if (!e)
		e = buf_append_str(b, "\ncommand");
	if (!e)
		e = put_str(b, s->command);
	if (!e)
		e = buf_append_str(b, "\nstage");
	if (!e)
		e = put_str(b, s->stage_rel);
	if (!e)
		e = buf_appendf(b, "\nflags %d %d %d %.3f\n", s->shell, s->args_mode, s->halt,
				s->timeout);
	for (char **a = s->argv; !e && *a; a++) {
		e = buf_append_str(b, "arg");
		if (!e)
			e = put_str(b, *a);
		if (!e)
			e = buf_append(b, "\n", 1);
	}
	for (size_t i = 0; !e && i < n_shards; i++)
		e = buf_appendf(b, "shard %zu %zu\n", shards[i].first, shards[i].count);
	for (size_t i = 0; !e && i < n; i++)
		e = format_task(b, p, &p->tasks[idx[i]]);
	return e ? ENOMEM : 0;
}

/* ---- parsing a plan ---- */

struct parse {
	struct planio_settings *s;
	struct plan *p;
	size_t shard, n_shards, n_args, next_task, first, count;
	bool have_shard;
};

static int dupe(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
	return src && !*dst ? ENOMEM : 0;
}

static int add_arg(struct parse *ps, const char *a)
{
	char **v = realloc(ps->s->argv, (ps->n_args + 2) * sizeof(*v));

	if (!v)
		return ENOMEM;
	ps->s->argv = v;
	v[ps->n_args] = strdup(a ? a : "");
	v[ps->n_args + 1] = NULL;
	return v[ps->n_args++] ? 0 : ENOMEM;
}

/* Adds the task of fields f (a "task" line) to the shard's plan. */
static int add_task(struct parse *ps, char **f)
{
	struct plan *p = ps->p;
	struct task *t = &p->tasks[p->n_tasks];
	struct loc_input *in;

	if (!f[5] || !f[9] || !f[10])
		return EINVAL;
	if (p->inputs.n == 0 || strcmp(p->inputs.v[p->inputs.n - 1].rel, f[9]) != 0) {
		in = &p->inputs.v[p->inputs.n];
		memset(in, 0, sizeof(*in));
		in->rel = strdup(f[9]);
		if (!in->rel)
			return ENOMEM;
		in->size = num(f[2]);
		in->mtime_ns = (int64_t)strtoll(f[3], NULL, 10);
		snprintf(in->etag, sizeof(in->etag), "%s", f[4] ? f[4] : "");
		p->files[p->inputs.n].first = p->n_tasks;
		p->inputs.n++;
	}
	memset(t, 0, sizeof(*t));
	t->seq = (size_t)num(f[1]);
	t->file = p->inputs.n - 1;
	t->off = num(f[5]);
	t->len = num(f[6]);
	t->part = (unsigned)num(f[7]);
	t->parts = (unsigned)num(f[8]);
	t->out_rel = strdup(f[10]);
	t->log_rel = strdup(f[11] ? f[11] : "");
	if (!t->out_rel || !t->log_rel || loc_rel_check(t->out_rel))
		return t->out_rel && t->log_rel ? EINVAL : ENOMEM;
	p->files[t->file].n++;
	p->total_bytes += t->len;
	p->n_tasks++;
	return 0;
}

static int alloc_plan(struct parse *ps)
{
	struct plan *p = ps->p;
	size_t n = ps->count ? ps->count : 1;

	p->tasks = calloc(n, sizeof(*p->tasks));
	p->files = calloc(n, sizeof(*p->files));
	p->inputs.v = calloc(n, sizeof(*p->inputs.v));
	return p->tasks && p->files && p->inputs.v ? 0 : ENOMEM;
}

static int parse_line(struct parse *ps, char **f, int n)
{
	struct planio_settings *s = ps->s;

	if (strcmp(f[0], "in") == 0)
		return dupe(&s->in_url, n > 1 ? f[1] : NULL);
	if (strcmp(f[0], "out") == 0)
		return dupe(&s->out_url, n > 1 ? f[1] : NULL);
	if (strcmp(f[0], "path") == 0)
		return dupe(&s->path, n > 1 ? f[1] : NULL);
	if (strcmp(f[0], "command") == 0)
		return dupe(&s->command, n > 1 ? f[1] : NULL);
	if (strcmp(f[0], "stage") == 0)
		return dupe(&s->stage_rel, n > 1 ? f[1] : NULL);
	if (strcmp(f[0], "arg") == 0)
		return add_arg(ps, n > 1 ? f[1] : NULL);
	if (strcmp(f[0], "flags") == 0 && n >= 5) {
		s->shell = num(f[1]);
		s->args_mode = num(f[2]);
		s->halt = num(f[3]);
		s->timeout = strtod(f[4], NULL);
		return 0;
	}
	if (strcmp(f[0], "shard") == 0 && n >= 3) {
		if (ps->n_shards++ == ps->shard) {
			ps->first = (size_t)num(f[1]);
			ps->count = (size_t)num(f[2]);
			ps->have_shard = true;
			return alloc_plan(ps);
		}
		return 0;
	}
	if (strcmp(f[0], "task") == 0 && n >= 12) {
		size_t i = ps->next_task++;

		if (!ps->have_shard || i < ps->first || i >= ps->first + ps->count)
			return 0;
		return add_task(ps, f);
	}
	return 0;
}

int planio_parse(const char *text, size_t len, size_t shard, struct planio_settings *s,
		 struct plan *p, char *err, size_t errlen)
{
	struct parse ps = { .s = s, .p = p, .shard = shard };
	char *copy = strndup(text, len), *save = NULL, *line;
	int e = copy ? 0 : ENOMEM;
	size_t lineno = 0;

	memset(s, 0, sizeof(*s));
	memset(p, 0, sizeof(*p));
	for (line = copy ? strtok_r(copy, "\n", &save) : NULL; !e && line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[MAX_FIELDS + 1] = { 0 };
		int n;

		if (lineno++ == 0) {
			e = strcmp(line, PLANIO_MAGIC) ? EINVAL : 0;
			continue;
		}
		n = split(line, f);
		for (int i = 0; i < n; i++)
			f[i] = decode(f[i]);
		if (n > 0 && f[0])
			e = parse_line(&ps, f, n);
	}
	free(copy);
	if (!e && (!s->in_url || !s->out_url || !s->path || !s->argv))
		e = EINVAL;
	if (!e && (!ps.have_shard || p->n_tasks != ps.count))
		e = ps.have_shard ? EINVAL : ERANGE;
	if (e == ERANGE)
		snprintf(err, errlen, "the plan has no shard %zu", shard);
	else if (e == EINVAL)
		snprintf(err, errlen, "the plan object is malformed (line %zu)", lineno);
	if (e) {
		plan_release(p);
		planio_settings_release(s);
	}
	return e;
}

/* ---- result records ---- */

int planio_format_results(struct buf *b, const struct plan *p)
{
	int e = 0;

	for (size_t i = 0; !e && i < p->n_tasks; i++) {
		const struct task *t = &p->tasks[i];

		if (t->state == TASK_PENDING || t->state == TASK_RUNNING)
			continue;
		e = buf_appendf(b, "r %zu %d %d %d %d %d %.6f %.6f %" PRIu64, t->seq,
				(int)t->state, t->attempts, t->exitval, t->sig, t->timed_out,
				t->start, t->runtime, t->bytes_out);
		if (!e)
			e = put_str(b, t->error);
		if (!e)
			e = put_str(b, t->stderr_tail);
		if (!e)
			e = buf_append(b, "\n", 1);
	}
	return e ? ENOMEM : 0;
}

int planio_parse_results(const char *text, size_t len, planio_result_fn fn, void *arg)
{
	char *copy = strndup(text, len), *save = NULL, *line;
	int e = copy ? 0 : ENOMEM;

	for (line = copy ? strtok_r(copy, "\n", &save) : NULL; !e && line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[MAX_FIELDS + 1] = { 0 };
		struct task t = { 0 };

		if (split(line, f) < 12 || strcmp(f[0], "r") != 0)
			continue;
		t.seq = (size_t)num(f[1]);
		t.state = (enum task_state)num(f[2]);
		t.attempts = atoi(f[3]);
		t.exitval = atoi(f[4]);
		t.sig = atoi(f[5]);
		t.timed_out = atoi(f[6]);
		t.start = strtod(f[7], NULL);
		t.runtime = strtod(f[8], NULL);
		t.bytes_out = num(f[9]);
		t.error = decode(f[10]);
		t.stderr_tail = decode(f[11]);
		if (t.seq > 0 && (t.state == TASK_OK || t.state == TASK_FAILED))
			e = fn(arg, &t);
	}
	free(copy);
	return e;
}

int planio_put(struct loc *out, const char *rel, const void *data, size_t len)
{
	struct loc_wfile *w = NULL;
	const char *p = data;
	int e = loc_create(out, rel, &w);

	while (!e && len > 0) {
		ssize_t n = write(loc_wfile_fd(w), p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? errno : EIO;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (e) {
		if (w)
			loc_discard(w);
		return e;
	}
	return loc_publish(w, NULL);
}
