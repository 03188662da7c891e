/*
 * objstore.c - the os_* entry points of the object-store interface.
 *
 * Every call of a user goes through a dispatcher here: it checks the
 * arguments that every backend would otherwise check again (store and key
 * present, key length, part numbers, max_keys) and then calls the op of the
 * store, which may be a wrapper (retry, fault) or a backend (s3, local).
 * Two operations are more than a dispatch:
 *   - os_delete_keys splits any number of keys into DeleteObjects batches of
 *     OS_DELETE_BATCH;
 *   - os_copy asks the source's size first and, above OS_COPY_SINGLE_MAX
 *     (S3's CopyObject limit), copies with a multipart upload of
 *     server-side part copies.
 * The helpers of the owned out-parameters (os_meta, os_stat, list pages,
 * upload lists) live here too, so every backend frees them the same way.
 */
#include "config.h"
#include "objstore/objstore_impl.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#define OS_PART_MAX 10000
#define OS_COPY_PART_MIN (512ULL << 20)	/* part size of a multipart copy */

/* --- metadata --- */

void os_meta_release(struct os_meta *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->kv[i].name);
		free(m->kv[i].value);
	}
	free(m->kv);
	m->kv = NULL;
	m->n = 0;
}

const char *os_meta_get(const struct os_meta *m, const char *name)
{
	size_t i;

	if (!m)
		return NULL;
	for (i = 0; i < m->n; i++)
		if (strcasecmp(m->kv[i].name, name) == 0)
			return m->kv[i].value;
	return NULL;
}

int os_meta_set(struct os_meta *m, const char *name, const char *value)
{
	struct os_meta_kv *kv;
	char *n, *v;
	size_t i;

	if (!name || !*name || !value)
		return EINVAL;
	v = strdup(value);
	if (!v)
		return ENOMEM;
	for (i = 0; i < m->n; i++) {
		if (strcasecmp(m->kv[i].name, name) == 0) {
			free(m->kv[i].value);
			m->kv[i].value = v;
			return 0;
		}
	}
	n = strdup(name);
	kv = realloc(m->kv, (m->n + 1) * sizeof(*kv));
	if (!n || !kv) {
		free(n);
		free(v);
		if (kv)
			m->kv = kv;
		return ENOMEM;
	}
	for (i = 0; n[i]; i++)
		n[i] = (char)tolower((unsigned char)n[i]);
	m->kv = kv;
	m->kv[m->n].name = n;
	m->kv[m->n].value = v;
	m->n++;
	return 0;
}

int os_meta_copy(struct os_meta *dst, const struct os_meta *src)
{
	size_t i;
	int err;

	dst->kv = NULL;
	dst->n = 0;
	for (i = 0; src && i < src->n; i++) {
		err = os_meta_set(dst, src->kv[i].name, src->kv[i].value);
		if (err) {
			os_meta_release(dst);
			return err;
		}
	}
	return 0;
}

/* --- owned out-parameters --- */

void os_stat_release(struct os_stat *st)
{
	if (st)
		os_meta_release(&st->meta);
}

void os_list_page_release(struct os_list_page *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n_entries; i++)
		free(p->entries[i].key);
	for (i = 0; i < p->n_prefixes; i++)
		free(p->prefixes[i]);
	free(p->entries);
	free(p->prefixes);
	free(p->next_token);
	memset(p, 0, sizeof(*p));
}

void os_upload_list_release(struct os_upload_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->uploads[i].key);
		free(l->uploads[i].upload_id);
	}
	free(l->uploads);
	l->uploads = NULL;
	l->n = 0;
}

/* --- errors and keys --- */

bool os_error_is_transient(int err)
{
	switch (err) {
	case EAGAIN:
	case ETIMEDOUT:
	case ECONNRESET:
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case EPIPE:
		return true;
	default:
		return false;
	}
}

int os_key_check(const char *key)
{
	size_t len;

	if (!key || !*key)
		return EINVAL;
	len = strlen(key);
	if (len > OS_KEY_MAX)
		return ENAMETOOLONG;
	return 0;
}

static int part_check(int part)
{
	return part >= 1 && part <= OS_PART_MAX ? 0 : EINVAL;
}

/* --- ETags --- */

static const char hexdigits[] = "0123456789abcdef";

void os_hex(const unsigned char *bin, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdigits[bin[i] >> 4];
		out[2 * i + 1] = hexdigits[bin[i] & 15];
	}
	out[2 * n] = '\0';
}

int os_unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int os_etag_multipart(const struct os_part *parts, size_t n, char out[OS_ETAG_MAX])
{
	unsigned char bin[16], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	EVP_MD_CTX *ctx;
	size_t i, j;
	int ok, hi, lo;

	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	for (i = 0; ok && i < n; i++) {
		if (strlen(parts[i].etag) != 32) {
			ok = 0;
			break;
		}
		for (j = 0; j < 16; j++) {
			hi = os_unhex(parts[i].etag[2 * j]);
			lo = os_unhex(parts[i].etag[2 * j + 1]);
			if (hi < 0 || lo < 0)
				break;
			bin[j] = (unsigned char)(hi << 4 | lo);
		}
		ok = j == 16 && EVP_DigestUpdate(ctx, bin, sizeof(bin));
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return EINVAL;
	os_hex(md, mdlen, out);
	snprintf(out + 2 * mdlen, OS_ETAG_MAX - 2 * mdlen, "-%zu", n);
	return 0;
}

/* --- dispatchers --- */

int os_check(struct objstore *s)
{
	return s->ops->check(s);
}

const char *os_id(struct objstore *s)
{
	return s->id;
}

int os_head(struct objstore *s, const char *key, struct os_stat *st)
{
	int err = os_key_check(key);

	if (err)
		return err;
	memset(st, 0, sizeof(*st));
	return s->ops->head(s, key, st);
}

int os_get(struct objstore *s, const char *key, uint64_t off, uint64_t len,
	   const char *etag, os_sink_fn sink, void *arg)
{
	int err = os_key_check(key);

	if (err)
		return err;
	if (!sink || (len != OS_RANGE_TO_END && len > UINT64_MAX - off))
		return EINVAL;
	if (etag && !*etag)
		etag = NULL;
	return s->ops->get(s, key, off, len, etag, sink, arg);
}

int os_put(struct objstore *s, const char *key, const void *data, size_t len,
	   const struct os_meta *meta, char etag_out[OS_ETAG_MAX])
{
	int err = os_key_check(key);

	if (err)
		return err;
	if (!data && len)
		return EINVAL;
	return s->ops->put(s, key, data ? data : "", len, meta, etag_out);
}

int os_delete(struct objstore *s, const char *key)
{
	int err = os_key_check(key);

	return err ? err : s->ops->del(s, key);
}

int os_delete_keys(struct objstore *s, const char *const *keys, size_t n)
{
	size_t i, batch;
	int err;

	for (i = 0; i < n; i++) {
		err = os_key_check(keys[i]);
		if (err)
			return err;
	}
	for (i = 0; i < n; i += batch) {
		batch = n - i < OS_DELETE_BATCH ? n - i : OS_DELETE_BATCH;
		err = s->ops->del_many(s, keys + i, batch);
		if (err)
			return err;
	}
	return 0;
}

/* Copies src (size bytes) to dst with a multipart upload of part copies. */
static int copy_multipart(struct objstore *s, const char *src, const char *dst,
			  const struct os_meta *meta, uint64_t size,
			  char etag_out[OS_ETAG_MAX])
{
	uint64_t part_size, off;
	struct os_part *parts;
	char *upload_id;
	size_t n, i;
	int err;

	part_size = (size + OS_PART_MAX - 1) / OS_PART_MAX;
	if (part_size < OS_COPY_PART_MIN)
		part_size = OS_COPY_PART_MIN;
	n = (size_t)((size + part_size - 1) / part_size);
	if (n > OS_PART_MAX || part_size > OS_COPY_SINGLE_MAX)
		return EINVAL;
	parts = calloc(n, sizeof(*parts));
	if (!parts)
		return ENOMEM;
	err = s->ops->mpu_create(s, dst, meta, &upload_id);
	if (err)
		goto out_free_parts;
	for (i = 0, off = 0; i < n && !err; i++, off += part_size) {
		parts[i].number = (int)i + 1;
		err = s->ops->mpu_copy_part(s, dst, upload_id, parts[i].number, src, off,
					    size - off < part_size ? size - off : part_size,
					    parts[i].etag);
	}
	if (!err)
		err = s->ops->mpu_complete(s, dst, upload_id, parts, n, etag_out);
	if (err)
		s->ops->mpu_abort(s, dst, upload_id);
	free(upload_id);
out_free_parts:
	free(parts);
	return err;
}

int os_copy(struct objstore *s, const char *src, const char *dst,
	    const struct os_meta *meta, char etag_out[OS_ETAG_MAX])
{
	struct os_stat st;
	int err;

	err = os_key_check(src);
	if (!err)
		err = os_key_check(dst);
	if (err)
		return err;
	err = s->ops->head(s, src, memset(&st, 0, sizeof(st)));
	if (err)
		return err;
	if (st.size <= OS_COPY_SINGLE_MAX)
		err = s->ops->copy(s, src, dst, meta, etag_out);
	else
		err = copy_multipart(s, src, dst, meta ? meta : &st.meta, st.size, etag_out);
	os_stat_release(&st);
	return err;
}

int os_list(struct objstore *s, const char *prefix, const char *delimiter,
	    const char *token, int max_keys, struct os_list_page *out)
{
	memset(out, 0, sizeof(*out));
	if (max_keys < 0 || max_keys > 1000)
		return EINVAL;
	if (prefix && strlen(prefix) > OS_KEY_MAX)
		return ENAMETOOLONG;
	if (max_keys == 0)
		max_keys = 1000;
	if (prefix && !*prefix)
		prefix = NULL;
	if (delimiter && !*delimiter)
		delimiter = NULL;
	if (token && !*token)
		token = NULL;
	return s->ops->list(s, prefix, delimiter, token, max_keys, out);
}

int os_mpu_create(struct objstore *s, const char *key, const struct os_meta *meta,
		  char **upload_id)
{
	int err = os_key_check(key);

	*upload_id = NULL;
	return err ? err : s->ops->mpu_create(s, key, meta, upload_id);
}

static int upload_check(const char *key, const char *upload_id, int part)
{
	int err = os_key_check(key);

	if (!err && (!upload_id || !*upload_id))
		err = EINVAL;
	if (!err)
		err = part_check(part);
	return err;
}

int os_mpu_put_part(struct objstore *s, const char *key, const char *upload_id,
		    int part, const void *data, size_t len, char etag_out[OS_ETAG_MAX])
{
	int err = upload_check(key, upload_id, part);

	if (!err && !data && len)
		err = EINVAL;
	return err ? err : s->ops->mpu_put_part(s, key, upload_id, part,
						data ? data : "", len, etag_out);
}

int os_mpu_copy_part(struct objstore *s, const char *key, const char *upload_id,
		     int part, const char *src_key, uint64_t off, uint64_t len,
		     char etag_out[OS_ETAG_MAX])
{
	int err = upload_check(key, upload_id, part);

	if (!err)
		err = os_key_check(src_key);
	if (!err && (len == 0 || len > OS_COPY_SINGLE_MAX))
		err = EINVAL;
	return err ? err : s->ops->mpu_copy_part(s, key, upload_id, part, src_key, off,
						 len, etag_out);
}

int os_mpu_complete(struct objstore *s, const char *key, const char *upload_id,
		    const struct os_part *parts, size_t n, char etag_out[OS_ETAG_MAX])
{
	int err = upload_check(key, upload_id, 1);
	size_t i;

	if (!err && (n == 0 || n > OS_PART_MAX))
		err = EINVAL;
	for (i = 0; !err && i < n; i++) {
		err = part_check(parts[i].number);
		if (!err && i > 0 && parts[i].number <= parts[i - 1].number)
			err = EINVAL;
	}
	return err ? err : s->ops->mpu_complete(s, key, upload_id, parts, n, etag_out);
}

int os_mpu_abort(struct objstore *s, const char *key, const char *upload_id)
{
	int err = upload_check(key, upload_id, 1);

	return err ? err : s->ops->mpu_abort(s, key, upload_id);
}

int os_mpu_list(struct objstore *s, const char *prefix, struct os_upload_list *out)
{
	out->uploads = NULL;
	out->n = 0;
	if (prefix && !*prefix)
		prefix = NULL;
	return s->ops->mpu_list(s, prefix, out);
}

void os_destroy(struct objstore *s)
{
	if (s)
		s->ops->destroy(s);
}
