/*
 * plan.c - from a listing of IN to the tasks of a run (see plan.h).
 *
 * Chunk boundaries are found here, before anything runs, by ranged reads
 * near each nominal boundary; a whole-file task needs no read at all.
 */
#include "config.h"
#include "exec/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rf_read(void *arg, uint64_t off, void *buf, size_t len, size_t *got)
{
	return loc_read(arg, off, buf, len, got);
}

char *plan_part_rel(const char *rel, unsigned part)
{
	char *s;

	if (asprintf(&s, PLAN_STATE_DIR "/parts/%s/part-%05u", rel, part) < 0)
		return NULL;
	return s;
}

static int name_task(struct task *t, const char *rel, bool merge, const char *log_prefix)
{
	int r;

	if (t->parts == 1) {
		t->out_rel = strdup(rel);
		r = asprintf(&t->log_rel, "%s%s.log", log_prefix, rel);
	} else {
		if (merge)
			t->out_rel = plan_part_rel(rel, t->part);
		else if (asprintf(&t->out_rel, "%s/part-%05u", rel, t->part) < 0)
			t->out_rel = NULL;
		r = asprintf(&t->log_rel, "%s%s.part-%05u.log", log_prefix, rel, t->part);
	}
	if (r < 0)
		t->log_rel = NULL;
	return t->out_rel && t->log_rel ? 0 : ENOMEM;
}

static int add_tasks(struct plan *p, size_t fi, const uint64_t *b, size_t n, size_t *cap,
		     const char *log_prefix)
{
	if (p->n_tasks + n > *cap) {
		size_t ncap = (*cap ? *cap * 2 : 256) + n;
		struct task *v = realloc(p->tasks, ncap * sizeof(*v));

		if (!v)
			return ENOMEM;
		p->tasks = v;
		*cap = ncap;
	}
	p->files[fi].first = p->n_tasks;
	p->files[fi].n = n;
	for (size_t i = 0; i < n; i++) {
		struct task *t = &p->tasks[p->n_tasks];

		memset(t, 0, sizeof(*t));
		t->seq = ++p->n_tasks;
		t->file = fi;
		t->off = b[i];
		t->len = b[i + 1] - b[i];
		t->part = (unsigned)i;
		t->parts = (unsigned)n;
		if (name_task(t, p->inputs.v[fi].rel, p->merge, log_prefix))
			return ENOMEM;
	}
	return 0;
}

static int split_file(struct plan *p, struct loc *in, size_t fi, const struct chunk_opts *co,
		      size_t *cap, const char *log_prefix, char *err, size_t errlen)
{
	const struct loc_input *f = &p->inputs.v[fi];
	uint64_t whole[2] = { 0, f->size }, *b = whole;
	struct loc_rfile *rf = NULL;
	size_t n = 1;
	int e = 0;

	if (chunk_enabled(co) && f->size > chunk_nominal_size(co, f->size)) {
		e = loc_open_input(in, f, &rf);
		if (!e)
			e = chunk_split(co, f->size, rf_read, rf, &b, &n);
		loc_close_input(rf);
		if (e) {
			snprintf(err, errlen, "cannot split %s: %s", f->rel, strerror(e));
			return e;
		}
	}
	e = add_tasks(p, fi, b, n, cap, log_prefix);
	if (b != whole)
		free(b);
	return e;
}

int plan_build(struct plan *p, struct loc *in, const struct chunk_opts *co, bool merge,
	       const char *log_prefix, char *err, size_t errlen)
{
	size_t cap = 0;
	int e;

	memset(p, 0, sizeof(*p));
	p->merge = merge;
	e = loc_list(in, &p->inputs, err, errlen);
	if (e) {
		if (!err[0])
			snprintf(err, errlen, "cannot list %s: %s", loc_name(in), strerror(e));
		return e;
	}
	for (size_t i = 0; i < p->inputs.n; i++) {
		if (loc_rel_check(p->inputs.v[i].rel) == 0)
			continue;
		snprintf(err, errlen, "input name '%s' in %s would escape the output directory",
			 p->inputs.v[i].rel, loc_name(in));
		return EINVAL;
	}
	p->files = calloc(p->inputs.n ? p->inputs.n : 1, sizeof(*p->files));
	if (!p->files)
		return ENOMEM;
	for (size_t i = 0; i < p->inputs.n; i++) {
		e = split_file(p, in, i, co, &cap, log_prefix, err, errlen);
		if (e)
			return e;
		p->total_bytes += p->inputs.v[i].size;
	}
	return 0;
}

void plan_release(struct plan *p)
{
	for (size_t i = 0; i < p->n_tasks; i++) {
		free(p->tasks[i].out_rel);
		free(p->tasks[i].log_rel);
		free(p->tasks[i].error);
		free(p->tasks[i].stderr_tail);
	}
	free(p->tasks);
	free(p->files);
	loc_inputs_release(&p->inputs);
	memset(p, 0, sizeof(*p));
}
