/*
 * test_planio.c - plan objects and result records round-trip: names with
 * spaces, newlines, '%', '~' and empty ETags survive; a worker gets exactly
 * its shard's tasks with their seq; missing shards and garbage are refused.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exec/planio.h"

static const char *names[] = { "a b.txt", "dir/new\nline", "100%~x", "z" };

/* Four inputs; "dir/new\nline" is split in two chunks: five tasks. */
static void make_plan(struct plan *p)
{
	size_t t = 0;

	memset(p, 0, sizeof(*p));
	p->inputs.n = 4;
	p->inputs.v = calloc(4, sizeof(*p->inputs.v));
	p->files = calloc(4, sizeof(*p->files));
	p->tasks = calloc(5, sizeof(*p->tasks));
	for (size_t i = 0; i < 4; i++) {
		struct loc_input *in = &p->inputs.v[i];
		unsigned parts = i == 1 ? 2 : 1;

		in->rel = strdup(names[i]);
		in->size = 1000 + i;
		in->mtime_ns = -5 + (int64_t)i;
		snprintf(in->etag, sizeof(in->etag), "%s", i == 2 ? "" : "\"abc-2\"");
		p->files[i].first = t;
		p->files[i].n = parts;
		for (unsigned k = 0; k < parts; k++, t++) {
			struct task *tk = &p->tasks[t];

			tk->seq = t + 1;
			tk->file = i;
			tk->off = k * 500;
			tk->len = parts == 1 ? in->size : 500 + k;
			tk->part = k;
			tk->parts = parts;
			if (asprintf(&tk->out_rel, parts == 1 ? "%s" : "%s/part-%05u", in->rel,
				     k) < 0 ||
			    asprintf(&tk->log_rel, ".mapdir/logs/%zu", t) < 0)
				abort();
		}
	}
	p->n_tasks = t;
}

static int count_results(void *arg, const struct task *t)
{
	int *n = arg;

	CHECK(t->seq == 2 || t->seq == 3);
	if (t->seq == 2) {
		CHECK(t->state == TASK_FAILED);
		CHECK_INT(t->exitval, 3);
		CHECK_STR(t->stderr_tail, "boom\nline 2 100%");
		CHECK(t->error == NULL);
	} else {
		CHECK(t->state == TASK_OK);
		CHECK_INT(t->bytes_out, 42);
		CHECK_STR(t->error, "");
	}
	(*n)++;
	return 0;
}

int main(void)
{
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)"wc -l; echo 'a b'", NULL };
	struct planio_settings s = { .in_url = (char *)"s3://b/in dir", .out_url = (char *)"s3://b/o",
				     .path = (char *)"/bin/sh", .argv = argv, .command = argv[2],
				     .shell = true, .timeout = 2.5 };
	struct planio_shard shards[2] = { { 0, 1 }, { 1, 3 } };
	size_t idx[4] = { 0, 1, 2, 4 };	/* task 4 (seq 4) is not in this round */
	struct planio_settings got;
	struct plan p, w;
	struct buf b = BUF_INIT, r = BUF_INIT;
	char err[256];
	int n = 0;

	make_plan(&p);
	CHECK_INT(planio_format(&b, &s, &p, idx, 4, shards, 2), 0);

	CHECK_INT(planio_parse(b.data, b.len, 1, &got, &w, err, sizeof(err)), 0);
	CHECK_STR(got.in_url, "s3://b/in dir");
	CHECK_STR(got.argv[2], "wc -l; echo 'a b'");
	CHECK(got.argv[3] == NULL);
	CHECK(got.shell && !got.args_mode && got.timeout == 2.5 && got.stage_rel == NULL);
	CHECK_INT(w.n_tasks, 3);
	CHECK_INT(w.inputs.n, 2);
	CHECK_INT(w.tasks[0].seq, 2);
	CHECK_INT(w.tasks[2].seq, 5);
	CHECK_STR(w.inputs.v[0].rel, "dir/new\nline");
	CHECK_STR(w.inputs.v[1].rel, "z");
	CHECK_STR(w.tasks[1].out_rel, "dir/new\nline/part-00001");
	CHECK_INT(w.tasks[1].len, 501);
	CHECK_INT(w.files[0].n, 2);
	CHECK_INT(w.files[1].first, 2);
	CHECK_STR(w.inputs.v[0].etag, "\"abc-2\"");
	CHECK(w.inputs.v[0].mtime_ns == -4);

	w.tasks[0].state = TASK_FAILED;
	w.tasks[0].exitval = 3;
	w.tasks[0].stderr_tail = strdup("boom\nline 2 100%");
	w.tasks[1].state = TASK_OK;
	w.tasks[1].bytes_out = 42;
	w.tasks[1].error = strdup("");
	CHECK_INT(planio_format_results(&r, &w), 0);	/* task 3 is pending: no line */
	CHECK_INT(planio_parse_results(r.data, r.len, count_results, &n), 0);
	CHECK_INT(n, 2);
	plan_release(&w);
	planio_settings_release(&got);

	CHECK_INT(planio_parse(b.data, b.len, 0, &got, &w, err, sizeof(err)), 0);
	CHECK_INT(w.n_tasks, 1);
	CHECK_STR(w.inputs.v[0].rel, "a b.txt");
	plan_release(&w);
	planio_settings_release(&got);

	CHECK_INT(planio_parse(b.data, b.len, 2, &got, &w, err, sizeof(err)), ERANGE);
	CHECK_INT(planio_parse("garbage\n", 8, 0, &got, &w, err, sizeof(err)), EINVAL);
	buf_release(&b);
	buf_release(&r);
	plan_release(&p);
	return check_exit();
}
