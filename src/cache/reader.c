/*
 * reader.c - read-through object reads: block cache, ranged GETs, sequential
 * prefetch by a pool of fetch threads.
 *
 * Design. Objects are read in blocks of opts.block_size. A struct blk is one
 * block of one object version (struct obj: key + ETag + size, shared by every
 * rd_file open on that version) held in memory; r->table finds it by
 * (obj, index). A block is LOADING (someone looks it up in the cache or a
 * fetch job will GET it), READY (data valid) or failed (removed from the
 * table at once, waiters see the error). Whoever inserts a LOADING block owns
 * its loading, so concurrent readers of one block wait on one GET.
 *
 * rd_read: for each block of the range, find it or insert it (the reader
 * itself then tries the cache, and queues a demand job on a miss), then wait
 * for each block in order and copy. A random read within one block that is
 * not in memory is served straight from the cache (bc_get_range: a 4 KiB
 * read copies 4 KiB, not a block) and leaves nothing in memory. Sequential
 * access (a read at 0, or two reads in a row each starting within a block
 * of where the last one ended: one random read often lands near the
 * last) opens a prefetch window of 2 blocks that doubles, each time it is
 * refilled, up to max_window; prefetch jobs (runs of up to RUN_MAX contiguous blocks, one GET
 * each) go to a second queue that workers serve after demand jobs, on at most
 * nthreads - 1 workers, so that a random read never waits behind a whole
 * window of prefetch. A reader waiting on a block of a queued prefetch job
 * promotes the job to the demand queue.
 *
 * Memory: every block in memory holds one buffer of block_size from a
 * buffer pool; r->mem_used counts those in the table, r->fill_used those
 * waiting in the fill queue (at most fill_limit). Prefetch stops when it
 * would pass mem_limit (after dropping blocks read from but idle for a
 * second); demand reads always proceed, first dropping READY blocks nobody
 * uses (oldest first, r->lru). A block is dropped as soon as readers
 * consumed as many bytes as it holds (sequential readers), when its object's
 * last file closes, or by the LRU. Buffers are mmap'ed so freed memory
 * really returns to the system: the pool keeps what it needs while reads go
 * on and shrinks to one buffer per worker after IDLE_TRIM_S idle seconds.
 *
 * Cache: workers look prefetched blocks up in the cache before GETting them.
 * A fetched block, once its readers are woken, goes to the fill queue, which
 * one fill thread drains into the cache, FILL_BATCH blocks per transaction
 * (bc_put_many); the batch being stored no longer counts in the queue.
 * Demand-fetched blocks are skipped (counted with bc_note_skipped()) when the
 * queue holds fill_limit bytes; prefetched and warm blocks never are: the
 * cache paces prefetch instead, which issues blocks only while the table and
 * the fill queue together stay under mem_limit. So a sequential
 * read stores every block, GETs never wait for the cache's disk, and memory
 * stays bounded. rd_destroy drains the queue. The cache can only make reads
 * faster: its failures are misses.
 *
 * Warming: a file read at random (WARM_AFTER random reads) whose object is at
 * most a quarter of the cache gets the whole object fetched into the cache in
 * the background while it stays open (see "warming" below), so that random
 * reads soon become cache hits, as s3fs's do from its local copy.
 *
 * Locking: one mutex (r->lock) protects the table, the queues, the LRU,
 * mem_used, obj and rd_file state; it is never held across a GET, a cache
 * call or a copy of a whole block. done_cond wakes readers, work_cond workers,
 * fill_cond the fill thread.
 */
#include "config.h"
#include "cache/reader.h"
#include "cache/bcache.h"
#include "objstore/objstore.h"
#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define NBUCKETS 1024
#define RUN_MAX 4			/* blocks per prefetch GET */
#define DEF_BLOCK (1u << 20)
#define DEF_WINDOW (64ULL << 20)
#define DEF_THREADS 8
#define DEF_MEM (64ULL << 20)
#define MIN_FILL (8ULL << 20)		/* fill queue: max(this, mem_limit / 8) */
#define FILL_BATCH 1			/* blocks stored per cache transaction */
#define WARM_AFTER 4			/* random reads of a file before warming */
#define WARM_MEM (16ULL << 20)		/* warm blocks fetching or being stored */
#define IDLE_NS 1000000000LL		/* a block read from this long ago is idle */
#define IDLE_TRIM_S 2			/* idle workers shrink the pool after this */

enum blk_state { B_LOADING, B_READY };

struct obj {
	char *key;			/* owned */
	char etag[OS_ETAG_MAX];
	uint64_t size;
	bool cached;			/* use the cache: there is one, and an ETag */
	int refs;			/* files + blocks; protected by r->lock */
	int files;			/* open rd_files; protected by r->lock */
	struct obj *next;		/* in r->objs */
	/* warming, all protected by r->lock: */
	bool warming;			/* in r->warm (which holds a ref) */
	uint64_t warm_next;		/* next block to warm */
	struct obj *wnext;		/* in r->warm */
};

struct job;

struct blk {
	struct obj *o;			/* holds a ref */
	uint64_t idx;
	size_t len;			/* bytes of this block in the object */
	char *data;			/* block_size bytes from the pool */
	int refs;			/* table + waiters + job; protected by r->lock */
	enum blk_state state;		/* protected by r->lock */
	int err;			/* failed: removed from the table, err set */
	size_t consumed;		/* bytes copied out to readers */
	int64_t used_ns;		/* time of the last copy out */
	size_t filled;			/* bytes written by the GET (worker only) */
	bool in_table;
	struct job *job;		/* queued (not started) job, or NULL */
	struct blk *hnext;
	struct blk *lprev, *lnext;	/* r->lru while READY and in the table */
	struct blk *fnext;		/* r->fill queue */
	bool warm;			/* counted in r->warm_used until stored */
	bool prefetched;		/* never skipped by the fill queue */
};

struct job {
	struct obj *o;
	uint32_t count;
	bool demand;			/* in r->demand (else r->prefetch) */
	bool cache_checked;		/* the reader already missed in the cache */
	bool warm;			/* warming: skip blocks the cache holds */
	struct blk *blks[RUN_MAX];	/* contiguous; each holds a ref */
	struct job *prev, *next;
};

struct queue {
	struct job *head, *tail;
};

struct rd {
	struct objstore *s;
	struct bcache *cache;
	const char *store_id;
	uint32_t bs;
	uint64_t max_window_blocks;
	uint64_t mem_limit;
	int nthreads;
	pthread_t *threads;
	pthread_mutex_t lock;
	pthread_cond_t work_cond, done_cond;
	bool stop;
	struct blk *table[NBUCKETS];
	struct blk *lru_head, *lru_tail;	/* oldest first */
	struct queue demand, prefetch;
	int prefetch_busy;		/* workers running prefetch jobs */
	int prefetch_max;		/* nthreads - 1: one is kept for demand */
	uint64_t mem_used;		/* blocks in the table */
	struct blk *fill_head, **fill_tail;	/* fetched blocks to store */
	uint64_t fill_used, fill_limit;	/* queued, not the batch being stored */
	uint64_t fill_skipped;		/* not yet passed to bc_note_skipped */
	pthread_t fill_thread;
	bool fill_started, fill_stop;
	pthread_cond_t fill_cond;
	void **pool;			/* free buffers */
	int npool, pool_max;
	struct obj *objs;
	struct obj *warm_head;		/* objects being warmed, in order */
	uint64_t warm_used, warm_limit;	/* bytes of warm blocks not yet stored */
	uint64_t warm_max_size;		/* warm objects up to this size (0: never) */
};

struct rd_file {
	struct rd *r;
	struct obj *o;
	uint64_t next_off;		/* end of the last read; protected by r->lock */
	uint64_t window;		/* prefetch window in blocks, 0: random */
	uint64_t pf_end;		/* blocks below were issued */
	int near;			/* reads in a row that continued the last */
	int random;			/* random reads so far */
};

/* --- buffers and memory (r->lock held) --- */

static char *buf_get(struct rd *r)
{
	void *p;

	if (r->npool)
		return r->pool[--r->npool];
	p = mmap(NULL, r->bs, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void buf_put(struct rd *r, char *p)
{
	if (r->npool < r->pool_max)
		r->pool[r->npool++] = p;
	else
		munmap(p, r->bs);
}

static void lru_unlink(struct rd *r, struct blk *b)
{
	if (b->lprev)
		b->lprev->lnext = b->lnext;
	else if (r->lru_head == b)
		r->lru_head = b->lnext;
	if (b->lnext)
		b->lnext->lprev = b->lprev;
	else if (r->lru_tail == b)
		r->lru_tail = b->lprev;
	b->lprev = b->lnext = NULL;
}

static void lru_append(struct rd *r, struct blk *b)
{
	b->lprev = r->lru_tail;
	b->lnext = NULL;
	if (r->lru_tail)
		r->lru_tail->lnext = b;
	else
		r->lru_head = b;
	r->lru_tail = b;
}

static void obj_unref(struct rd *r, struct obj *o)
{
	if (--o->refs)
		return;
	for (struct obj **pp = &r->objs; *pp; pp = &(*pp)->next) {
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	}
	free(o->key);
	free(o);
}

static void blk_unref(struct rd *r, struct blk *b)
{
	if (--b->refs)
		return;
	buf_put(r, b->data);
	obj_unref(r, b->o);
	free(b);
}

static size_t bucket(const struct obj *o, uint64_t idx)
{
	uint64_t h = ((uintptr_t)o >> 4) * 0x9e3779b97f4a7c15ULL ^ idx * 0xff51afd7ed558ccdULL;

	return (size_t)(h >> 32) % NBUCKETS;
}

static struct blk *table_find(struct rd *r, struct obj *o, uint64_t idx)
{
	for (struct blk *b = r->table[bucket(o, idx)]; b; b = b->hnext)
		if (b->o == o && b->idx == idx)
			return b;
	return NULL;
}

/* Takes b out of the table (and the LRU) and drops the table's ref. */
static void table_remove(struct rd *r, struct blk *b)
{
	struct blk **pp = &r->table[bucket(b->o, b->idx)];

	if (!b->in_table)
		return;
	while (*pp != b)
		pp = &(*pp)->hnext;
	*pp = b->hnext;
	b->in_table = false;
	r->mem_used -= r->bs;
	if (b->state == B_READY)
		lru_unlink(r, b);
	blk_unref(r, b);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Drops unused READY blocks, oldest first, until one more block fits under
 * mem_limit. Prefetch (only_idle) drops only blocks that were read from but
 * not for IDLE_NS: never prefetched blocks nobody read yet, nor the block a
 * sequential reader is in the middle of. */
static bool mem_make_room(struct rd *r, bool only_idle)
{
	struct blk *b = r->lru_head, *next;
	int64_t idle_before = only_idle ? now_ns() - IDLE_NS : 0;

	while (r->mem_used + r->bs > r->mem_limit && b) {
		next = b->lnext;
		if (b->refs == 1 && (!only_idle || (b->consumed && b->used_ns < idle_before)))
			table_remove(r, b);
		b = next;
	}
	return r->mem_used + r->bs <= r->mem_limit;
}

/* Inserts a LOADING block (one ref for the table). NULL on ENOMEM. */
static struct blk *blk_insert(struct rd *r, struct obj *o, uint64_t idx)
{
	struct blk *b = calloc(1, sizeof(*b));
	size_t h = bucket(o, idx);

	if (!b || !(b->data = buf_get(r))) {
		free(b);
		return NULL;
	}
	r->mem_used += r->bs;
	b->o = o;
	o->refs++;
	b->idx = idx;
	b->len = o->size - idx * r->bs < r->bs ? (size_t)(o->size - idx * r->bs) : r->bs;
	b->refs = 1;
	b->state = B_LOADING;
	b->in_table = true;
	b->hnext = r->table[h];
	r->table[h] = b;
	return b;
}

/* Marks a block loaded (err 0) or failed, wakes its readers. A failed
 * block leaves the table so that the next reader tries again. The caller
 * holds a ref on b. */
static void blk_finish(struct rd *r, struct blk *b, int err)
{
	b->err = err;
	if (err)
		table_remove(r, b);
	b->state = B_READY;
	if (!err && b->in_table) {
		lru_append(r, b);
		if (b->o->files == 0)		/* its last file closed meanwhile */
			table_remove(r, b);
	}
	pthread_cond_broadcast(&r->done_cond);
}

/* --- queues (r->lock held) --- */

static void q_push(struct queue *q, struct job *j)
{
	j->prev = q->tail;
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static void q_unlink(struct queue *q, struct job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		q->head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		q->tail = j->prev;
	j->prev = j->next = NULL;
}

/* Queues a job for blks (refs are taken here). */
static int job_queue(struct rd *r, struct blk **blks, uint32_t n, bool demand)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return ENOMEM;
	j->o = blks[0]->o;
	j->o->refs++;
	j->count = n;
	j->demand = demand;
	j->cache_checked = demand;
	j->warm = blks[0]->warm;
	for (uint32_t i = 0; i < n; i++) {
		j->blks[i] = blks[i];
		blks[i]->refs++;
		blks[i]->job = j;
	}
	q_push(demand ? &r->demand : &r->prefetch, j);
	pthread_cond_signal(&r->work_cond);
	return 0;
}

/* A reader needs a block of a queued prefetch job: serve it first. */
static void job_promote(struct rd *r, struct job *j)
{
	if (j->demand)
		return;
	q_unlink(&r->prefetch, j);
	j->demand = true;
	q_push(&r->demand, j);
}

/* --- warming (r->lock held) ---
 * A file read at random (WARM_AFTER random reads) whose object fits easily in
 * the cache gets its whole object fetched into the cache in the background,
 * in runs like prefetch and on the same queue, so that the random reads soon
 * become cache hits. Warm blocks stay in the table only until stored (they
 * count in warm_used, at most warm_limit, so warming is paced by the cache's
 * disk and never skipped by the fill queue); blocks the cache holds are not
 * fetched again. Warming stops when the object's last file closes. */

static uint64_t nblocks_of(const struct rd *r, const struct obj *o)
{
	return (o->size + r->bs - 1) / r->bs;
}

/* A warm block was stored, or will not be: gives back its share of
 * warm_used and, once loaded, its place in the table. */
static void warm_done(struct rd *r, struct blk *b)
{
	if (!b->warm)
		return;
	b->warm = false;
	r->warm_used -= r->bs;
	if (b->in_table && b->state == B_READY)
		table_remove(r, b);
}

/* Issues warm jobs while warm_limit and mem_limit allow. */
static void warm_more(struct rd *r)
{
	struct blk *run[RUN_MAX];
	struct obj *o;

	while ((o = r->warm_head)) {
		uint64_t nblocks = nblocks_of(r, o);
		uint32_t n = 0;

		if (o->files == 0 || o->warm_next >= nblocks) {
			r->warm_head = o->wnext;
			o->warming = false;
			obj_unref(r, o);
			continue;
		}
		while (n < RUN_MAX && o->warm_next < nblocks &&
		       r->warm_used + r->bs <= r->warm_limit) {
			if (table_find(r, o, o->warm_next)) {
				if (n)
					break;	/* a run is contiguous */
				o->warm_next++;
				continue;
			}
			struct blk *b = mem_make_room(r, true) ? blk_insert(r, o, o->warm_next)
							       : NULL;

			if (!b)
				break;
			b->warm = true;
			r->warm_used += r->bs;
			run[n++] = b;
			o->warm_next++;
		}
		if (n && job_queue(r, run, n, false)) {
			for (uint32_t i = 0; i < n; i++) {
				warm_done(r, run[i]);
				blk_finish(r, run[i], ENOMEM);
			}
			return;
		}
		if (!n && o->warm_next < nblocks)
			return;			/* no budget or memory now */
	}
}

/* Starts warming o unless it is already, has no cache identity, or is too
 * big for the cache. */
static void warm_start(struct rd *r, struct obj *o)
{
	struct obj **pp = &r->warm_head;

	if (o->warming || !o->cached || o->size > r->warm_max_size)
		return;
	o->warming = true;
	o->refs++;
	o->warm_next = 0;
	o->wnext = NULL;
	while (*pp)
		pp = &(*pp)->wnext;
	*pp = o;
	warm_more(r);
}

/* --- cache fill --- */

/* Queues a fetched block for the cache, or skips a demand-fetched one when
 * the queue is full (r->lock held). */
static void fill_queue(struct rd *r, struct blk *b)
{
	if (r->fill_used + r->bs > r->fill_limit && !b->warm && !b->prefetched) {
		r->fill_skipped++;
		return;
	}
	b->refs++;
	b->fnext = NULL;
	*r->fill_tail = b;
	r->fill_tail = &b->fnext;
	r->fill_used += r->bs;
	pthread_cond_signal(&r->fill_cond);
}

/* Stores the blocks of list (linked by fnext) in one write transaction and
 * drops them from the fill queue. Called without r->lock. */
static void fill_store(struct rd *r, struct blk *list)
{
	struct bc_block bl[FILL_BATCH] = { { 0 } };
	struct blk *b, *next;
	size_t n = 0;

	for (b = list; b; b = b->fnext)
		bl[n++] = (struct bc_block){ b->o->key, b->o->etag, b->idx, b->data, b->len };
	bc_put_many(r->cache, r->store_id, r->bs, bl, n);
	pthread_mutex_lock(&r->lock);
	for (b = list; b; b = next) {
		next = b->fnext;
		warm_done(r, b);
		blk_unref(r, b);
	}
	warm_more(r);
	pthread_mutex_unlock(&r->lock);
}

/* The fill thread: stores what is queued, FILL_BATCH blocks per
 * transaction, until stopped and drained. */
static void *fill_main(void *arg)
{
	struct rd *r = arg;
	uint64_t skipped;
	struct blk *list, **tail;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		skipped = r->fill_skipped;
		r->fill_skipped = 0;
		list = r->fill_head;
		if (!list && !skipped) {
			if (r->fill_stop)
				break;
			pthread_cond_wait(&r->fill_cond, &r->lock);
			continue;
		}
		/* the batch leaves the queue's count: while it is stored, as
		 * much again can queue (the disk's latency is paid per batch) */
		tail = &r->fill_head;
		for (int n = 0; *tail && n < FILL_BATCH; n++) {
			r->fill_used -= r->bs;
			tail = &(*tail)->fnext;
		}
		r->fill_head = *tail;
		*tail = NULL;
		if (!r->fill_head)
			r->fill_tail = &r->fill_head;
		pthread_mutex_unlock(&r->lock);
		if (skipped)
			bc_note_skipped(r->cache, skipped);
		if (list)
			fill_store(r, list);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* --- fetch jobs (workers) --- */

struct sink_state {
	struct rd *r;
	struct blk **blks;
	uint32_t n, cur;
};

/* Fills the run's blocks in order; wakes each block's readers when full. */
static int run_sink(void *arg, const void *data, size_t len)
{
	struct sink_state *ss = arg;
	const char *p = data;

	while (len) {
		if (ss->cur == ss->n)
			return EIO;		/* more bytes than asked for */
		struct blk *b = ss->blks[ss->cur];
		size_t take = b->len - b->filled < len ? b->len - b->filled : len;

		memcpy(b->data + b->filled, p, take);
		b->filled += take;
		p += take;
		len -= take;
		if (b->filled == b->len) {
			pthread_mutex_lock(&ss->r->lock);
			blk_finish(ss->r, b, 0);
			pthread_mutex_unlock(&ss->r->lock);
			ss->cur++;
		}
	}
	return 0;
}

/* One GET for the contiguous blocks blks[0..n); unfinished ones fail. */
static void fetch_run(struct rd *r, struct obj *o, struct blk **blks, uint32_t n)
{
	struct sink_state ss = { r, blks, n, 0 };
	uint64_t off = blks[0]->idx * r->bs, len = 0;
	int err;

	for (uint32_t i = 0; i < n; i++)
		len += blks[i]->len;
	err = os_get(r->s, o->key, off, len, o->etag, run_sink, &ss);
	if (!err && ss.cur < n)
		err = EIO;			/* short body */
	if (err && err != ESTALE)
		log_msg(LOG_DEBUG, "reader: GET %s [%llu, +%llu): %s", o->key,
			(unsigned long long)off, (unsigned long long)len, strerror(err));
	pthread_mutex_lock(&r->lock);
	if (err == ESTALE)
		o->warm_next = UINT64_MAX;	/* the object changed: stop warming */
	for (uint32_t i = ss.cur; i < n; i++) {
		warm_done(r, blks[i]);
		blk_finish(r, blks[i], err ? err : EIO);
	}
	for (uint32_t i = 0; i < ss.cur && o->cached; i++)
		fill_queue(r, blks[i]);
	pthread_mutex_unlock(&r->lock);
}

/* A warm block the cache holds: dropped unless a reader waits on it. */
static bool warm_skip(struct rd *r, struct blk *b)
{
	bool skip;

	pthread_mutex_lock(&r->lock);
	skip = b->in_table && b->refs == 2;	/* the table's and the job's */
	if (skip) {
		warm_done(r, b);
		blk_finish(r, b, ECANCELED);
	}
	pthread_mutex_unlock(&r->lock);
	return skip;
}

static void job_run(struct rd *r, struct job *j)
{
	struct blk *miss[RUN_MAX];
	uint32_t n = 0;
	size_t len;

	for (uint32_t i = 0; i < j->count; i++) {
		struct blk *b = j->blks[i];
		bool has = j->warm && bc_has(r->cache, r->store_id, j->o->key, j->o->etag,
					     r->bs, b->idx);
		bool hit = (has && warm_skip(r, b)) ||
			   (!j->cache_checked && j->o->cached && (!j->warm || has) &&
			    bc_get(r->cache, r->store_id, j->o->key, j->o->etag, r->bs,
				   b->idx, b->data, &len) == 0 && len == b->len);

		if (hit) {
			pthread_mutex_lock(&r->lock);
			if (b->state == B_LOADING)	/* not skipped: loaded */
				blk_finish(r, b, 0);
			warm_done(r, b);
			pthread_mutex_unlock(&r->lock);
			if (n)
				fetch_run(r, j->o, miss, n);
			n = 0;
		} else {
			b->filled = 0;
			miss[n++] = b;
		}
	}
	if (n)
		fetch_run(r, j->o, miss, n);
}

/* Waits for work (r->lock held); after IDLE_TRIM_S without any, gives the
 * buffer pool back to the system down to one buffer per worker. */
static void idle_wait(struct rd *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += IDLE_TRIM_S;
	if (pthread_cond_timedwait(&r->work_cond, &r->lock, &ts) != ETIMEDOUT)
		return;
	while (r->npool > r->nthreads)
		munmap(r->pool[--r->npool], r->bs);
}

static void *worker_main(void *arg)
{
	struct rd *r = arg;
	struct job *j;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		j = r->demand.head;
		if (!j && r->prefetch_busy < r->prefetch_max)
			j = r->prefetch.head;
		if (!j) {
			idle_wait(r);
			continue;
		}
		bool pf = !j->demand;

		q_unlink(pf ? &r->prefetch : &r->demand, j);
		r->prefetch_busy += pf;
		for (uint32_t i = 0; i < j->count; i++)
			j->blks[i]->job = NULL;
		if (j->o->files == 0) {		/* nobody reads it any more */
			for (uint32_t i = 0; i < j->count; i++) {
				warm_done(r, j->blks[i]);
				blk_finish(r, j->blks[i], ECANCELED);
			}
		} else {
			pthread_mutex_unlock(&r->lock);
			job_run(r, j);
			pthread_mutex_lock(&r->lock);
		}
		for (uint32_t i = 0; i < j->count; i++)
			blk_unref(r, j->blks[i]);
		obj_unref(r, j->o);
		free(j);
		warm_more(r);
		if (pf) {
			r->prefetch_busy--;
			pthread_cond_signal(&r->work_cond);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* --- engine --- */

/* Block size, window, memory limits and worker count from o (zero: the
 * defaults); the buffer pool holds the table, the fill queue, the batch being
 * stored and a buffer per worker. Warming needs r->cache set. */
static void rd_limits(struct rd *r, const struct rd_opts *o)
{
	r->bs = o->block_size ? o->block_size : DEF_BLOCK;
	r->max_window_blocks = (o->max_window ? o->max_window : DEF_WINDOW) / r->bs;
	if (r->max_window_blocks < 2)
		r->max_window_blocks = 2;
	r->mem_limit = o->mem_limit ? o->mem_limit : DEF_MEM;
	r->fill_limit = r->mem_limit / 8 > MIN_FILL ? r->mem_limit / 8 : MIN_FILL;
	r->warm_limit = WARM_MEM > 2ULL * RUN_MAX * r->bs ? WARM_MEM : 2ULL * RUN_MAX * r->bs;
	if (r->cache) {
		struct bc_stats st;

		if (!bc_get_stats(r->cache, &st))
			r->warm_max_size = st.max_bytes / 4;
	}
	r->nthreads = o->threads > 0 ? o->threads : DEF_THREADS;
	r->prefetch_max = r->nthreads > 1 ? r->nthreads - 1 : 1;
	r->pool_max = (int)((r->mem_limit + 2 * r->fill_limit) / r->bs) + r->nthreads;
}

int rd_create(struct objstore *s, struct bcache *cache, const struct rd_opts *opts,
	      struct rd **out)
{
	struct rd *r = calloc(1, sizeof(*r));
	struct rd_opts o = { 0 };

	*out = NULL;
	if (!r)
		return ENOMEM;
	if (opts)
		o = *opts;
	r->s = s;
	r->cache = cache;
	r->store_id = os_id(s);
	r->fill_tail = &r->fill_head;
	rd_limits(r, &o);
	r->pool = calloc((size_t)r->pool_max, sizeof(*r->pool));
	r->threads = calloc((size_t)r->nthreads, sizeof(*r->threads));
	if (!r->pool || !r->threads) {
		free(r->pool);
		free(r->threads);
		free(r);
		return ENOMEM;
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->work_cond, NULL);
	pthread_cond_init(&r->done_cond, NULL);
	pthread_cond_init(&r->fill_cond, NULL);
	if (cache) {
		int err = pthread_create(&r->fill_thread, NULL, fill_main, r);

		if (err) {
			r->nthreads = 0;
			rd_destroy(r);
			return err;
		}
		r->fill_started = true;
	}
	for (int i = 0; i < r->nthreads; i++) {
		int err = pthread_create(&r->threads[i], NULL, worker_main, r);

		if (err) {
			r->nthreads = i;
			rd_destroy(r);
			return err;
		}
	}
	*out = r;
	return 0;
}

void rd_destroy(struct rd *r)
{
	struct job *j;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->work_cond);
	pthread_mutex_unlock(&r->lock);
	for (int i = 0; i < r->nthreads; i++)
		pthread_join(r->threads[i], NULL);
	if (r->fill_started) {		/* store what was fetched, then stop */
		pthread_mutex_lock(&r->lock);
		r->fill_stop = true;
		pthread_cond_signal(&r->fill_cond);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->fill_thread, NULL);
	}
	/* callers closed every file: what is left are queued jobs and blocks */
	warm_more(r);				/* drops every object from r->warm */
	while ((j = r->demand.head ? r->demand.head : r->prefetch.head)) {
		q_unlink(j->demand ? &r->demand : &r->prefetch, j);
		for (uint32_t i = 0; i < j->count; i++) {
			blk_finish(r, j->blks[i], ECANCELED);
			blk_unref(r, j->blks[i]);
		}
		obj_unref(r, j->o);
		free(j);
	}
	for (size_t h = 0; h < NBUCKETS; h++)
		while (r->table[h])
			table_remove(r, r->table[h]);
	while (r->npool)
		munmap(r->pool[--r->npool], r->bs);
	pthread_cond_destroy(&r->fill_cond);
	pthread_cond_destroy(&r->done_cond);
	pthread_cond_destroy(&r->work_cond);
	pthread_mutex_destroy(&r->lock);
	free(r->pool);
	free(r->threads);
	free(r);
}

int rd_open(struct rd *r, const char *key, const char *etag, uint64_t size,
	    struct rd_file **out)
{
	struct rd_file *f;
	struct obj *o;

	*out = NULL;
	if (strlen(etag) >= OS_ETAG_MAX)
		return EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return ENOMEM;
	pthread_mutex_lock(&r->lock);
	for (o = r->objs; o; o = o->next)
		if (o->size == size && !strcmp(o->etag, etag) && !strcmp(o->key, key))
			break;
	if (!o) {
		o = calloc(1, sizeof(*o));
		if (o)
			o->key = strdup(key);
		if (!o || !o->key) {
			pthread_mutex_unlock(&r->lock);
			free(o);
			free(f);
			return ENOMEM;
		}
		strcpy(o->etag, etag);
		o->size = size;
		o->cached = r->cache && etag[0];	/* no ETag: no identity */
		o->next = r->objs;
		r->objs = o;
	}
	o->refs++;
	o->files++;
	pthread_mutex_unlock(&r->lock);
	f->r = r;
	f->o = o;
	f->next_off = UINT64_MAX;
	*out = f;
	return 0;
}

void rd_close(struct rd_file *f)
{
	struct rd *r;

	if (!f)
		return;
	r = f->r;
	pthread_mutex_lock(&r->lock);
	if (--f->o->files == 0) {
		/* drop its READY blocks; loading ones go when they finish */
		for (size_t h = 0; h < NBUCKETS; h++) {
			struct blk *b = r->table[h], *next;

			for (; b; b = next) {
				next = b->hnext;
				if (b->o == f->o && b->state == B_READY)
					table_remove(r, b);
			}
		}
	}
	obj_unref(r, f->o);
	pthread_mutex_unlock(&r->lock);
	free(f);
}

/* --- reads --- */

/* Issues prefetch jobs for blocks [from, to) not in memory yet, in runs of
 * RUN_MAX, while memory allows. Returns the first block not issued. */
static uint64_t prefetch(struct rd *r, struct obj *o, uint64_t from, uint64_t to)
{
	struct blk *run[RUN_MAX];
	uint32_t n = 0;
	uint64_t idx;

	for (idx = from; idx < to; idx++) {
		if (table_find(r, o, idx))
			continue;
		/* the cache's pace: prefetched blocks waiting to be stored
		 * share mem_limit with the table */
		if (r->mem_used + r->fill_used + r->bs > r->mem_limit ||
		    !mem_make_room(r, true))
			break;
		struct blk *b = blk_insert(r, o, idx);

		if (!b)
			break;
		b->prefetched = true;
		run[n++] = b;
		/* a run is contiguous: flush it at a gap or when full */
		if (n == RUN_MAX || idx + 1 == to || table_find(r, o, idx + 1)) {
			job_queue(r, run, n, false);
			n = 0;
		}
	}
	if (n)
		job_queue(r, run, n, false);
	return idx;
}

/* Updates the file's sequential state for a read of blocks [first, last]
 * and issues prefetch when the window ahead ran low. */
static void readahead(struct rd_file *f, uint64_t off, uint64_t end, uint64_t last)
{
	struct rd *r = f->r;
	uint64_t nblocks = (f->o->size + r->bs - 1) / r->bs;
	uint64_t ahead = last + 1, target;
	bool cont = f->next_off != UINT64_MAX && off + r->bs >= f->next_off &&
		    off <= f->next_off + r->bs;

	if (!cont || end > f->next_off)
		f->next_off = end;
	f->near = cont ? f->near + 1 : 0;
	if (!cont) {
		f->window = 0;		/* random; a read at 0 starts a stream */
		if (off != 0 && ++f->random == WARM_AFTER)
			warm_start(r, f->o);
		if (off != 0)
			return;
	} else if (f->window == 0 && f->near < 2) {
		return;			/* one random read may land near the last */
	}
	if (f->window == 0) {
		f->window = 2;
		f->pf_end = ahead;
	}
	/* behind us, or far ahead after a step back: start from here */
	if (f->pf_end < ahead || f->pf_end > ahead + 2 * f->window)
		f->pf_end = ahead;
	target = ahead + f->window < nblocks ? ahead + f->window : nblocks;
	if (f->pf_end >= target || f->pf_end - ahead > f->window / 2)
		return;
	f->pf_end = prefetch(r, f->o, f->pf_end, target);
	if (f->window * 2 <= r->max_window_blocks)
		f->window *= 2;
}

/* Looks up (or claims) each block of [first, last]; blocks this call must
 * load are returned in mine[]. Every blks[] entry holds a ref. */
static int claim(struct rd *r, struct obj *o, uint64_t first, uint64_t last,
		 struct blk **blks, struct blk **mine, uint32_t *nmine)
{
	for (uint64_t idx = first; idx <= last; idx++) {
		struct blk *b = table_find(r, o, idx);

		if (!b) {
			mem_make_room(r, false);
			b = blk_insert(r, o, idx);
			if (!b)
				return ENOMEM;
			mine[(*nmine)++] = b;
		}
		b->refs++;
		blks[idx - first] = b;
	}
	return 0;
}

/* Loads the blocks claimed by this reader: cache first (unless the reader
 * just missed there), then demand jobs. */
static void load_mine(struct rd *r, struct obj *o, struct blk **mine, uint32_t n,
		      bool cache_checked)
{
	struct blk *miss[RUN_MAX];
	uint32_t nmiss = 0;
	size_t len;

	for (uint32_t i = 0; i < n; i++) {
		struct blk *b = mine[i];

		if (o->cached && !cache_checked && bc_get(r->cache, r->store_id, o->key, o->etag, r->bs, b->idx,
				       b->data, &len) == 0 && len == b->len) {
			pthread_mutex_lock(&r->lock);
			blk_finish(r, b, 0);
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		pthread_mutex_lock(&r->lock);
		if (nmiss && (nmiss == RUN_MAX || miss[nmiss - 1]->idx + 1 != b->idx)) {
			if (job_queue(r, miss, nmiss, true))
				for (uint32_t k = 0; k < nmiss; k++)
					blk_finish(r, miss[k], ENOMEM);
			nmiss = 0;
		}
		miss[nmiss++] = b;
		pthread_mutex_unlock(&r->lock);
	}
	pthread_mutex_lock(&r->lock);
	if (nmiss && job_queue(r, miss, nmiss, true))
		for (uint32_t k = 0; k < nmiss; k++)
			blk_finish(r, miss[k], ENOMEM);
	pthread_mutex_unlock(&r->lock);
}

/* Waits for b (r->lock held) and copies [from, from+n) of it to dst. */
static int copy_block(struct rd *r, struct blk *b, char *dst, size_t from, size_t n)
{
	while (b->state == B_LOADING) {
		if (b->job)
			job_promote(r, b->job);
		pthread_cond_wait(&r->done_cond, &r->lock);
	}
	if (b->err)
		return b->err;
	b->refs++;			/* keep it while copying unlocked */
	pthread_mutex_unlock(&r->lock);
	memcpy(dst, b->data + from, n);
	pthread_mutex_lock(&r->lock);
	b->refs--;
	b->consumed += n;
	b->used_ns = now_ns();
	if (b->in_table) {
		lru_unlink(r, b);
		if (b->consumed >= b->len)
			table_remove(r, b);	/* read through: no need to keep it */
		else
			lru_append(r, b);
	}
	return 0;
}

/* A random read within one block that is not in memory: copies just the
 * range from the cache (a 4 KiB read costs a 4 KiB copy, not a block's).
 * Called with r->lock held, after readahead(); returns with it released.
 * 0 on a hit, ENOENT on a miss, EAGAIN when the cache was not asked. */
static int read_cached_range(struct rd_file *f, void *buf, uint64_t off, size_t len)
{
	struct rd *r = f->r;
	struct obj *o = f->o;
	uint64_t idx = off / r->bs;
	size_t blen, want = o->size - idx * r->bs < r->bs ? (size_t)(o->size - idx * r->bs)
							   : r->bs;
	struct blk *b = table_find(r, o, idx);
	/* a block being warmed may be in the cache already */
	bool go = f->window == 0 && (!b || (b->warm && b->state == B_LOADING));

	pthread_mutex_unlock(&r->lock);
	if (!go)
		return EAGAIN;
	if (bc_get_range(r->cache, r->store_id, o->key, o->etag, r->bs, idx,
			 (size_t)(off - idx * r->bs), len, buf, &blen))
		return ENOENT;
	return blen == want ? 0 : ENOENT;
}

int rd_read(struct rd_file *f, void *buf, uint64_t off, size_t len, size_t *got)
{
	struct rd *r = f->r;
	struct obj *o = f->o;
	uint64_t first, last, end;
	struct blk **blks, **mine;
	uint32_t nmine = 0, nblk;
	bool cache_checked = false;
	int err = 0;

	*got = 0;
	if (off >= o->size || len == 0)
		return 0;
	if (len > o->size - off)
		len = (size_t)(o->size - off);
	end = off + len;
	first = off / r->bs;
	last = (end - 1) / r->bs;
	nblk = (uint32_t)(last - first + 1);
	blks = calloc(nblk, sizeof(*blks));
	mine = calloc(nblk, sizeof(*mine));
	if (!blks || !mine) {
		free(blks);
		free(mine);
		return ENOMEM;
	}
	pthread_mutex_lock(&r->lock);
	if (first == last && o->cached) {
		readahead(f, off, end, last);
		err = read_cached_range(f, buf, off, len);
		if (!err)
			goto out_free;
		cache_checked = err == ENOENT;
		pthread_mutex_lock(&r->lock);
		err = claim(r, o, first, last, blks, mine, &nmine);
	} else {
		err = claim(r, o, first, last, blks, mine, &nmine);
		readahead(f, off, end, last);
	}
	pthread_mutex_unlock(&r->lock);
	load_mine(r, o, mine, nmine, cache_checked);
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < nblk && blks[i]; i++) {
		uint64_t bstart = (first + i) * r->bs;
		size_t from = off > bstart ? (size_t)(off - bstart) : 0;
		size_t to = end - bstart < blks[i]->len ? (size_t)(end - bstart) : blks[i]->len;

		if (!err)
			err = copy_block(r, blks[i], (char *)buf + (bstart + from - off), from,
					 to - from);
		blk_unref(r, blks[i]);
	}
	pthread_mutex_unlock(&r->lock);
out_free:
	free(blks);
	free(mine);
	if (!err)
		*got = len;
	return err;
}
