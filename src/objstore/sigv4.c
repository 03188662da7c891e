/*
 * sigv4.c - AWS Signature Version 4 with OpenSSL (HMAC-SHA256, SHA-256).
 *
 *   canonical request = METHOD \n PATH \n QUERY \n
 *                       name:value \n ... (sorted by name) \n
 *                       signed;header;names \n PAYLOAD-HASH
 *   string to sign    = AWS4-HMAC-SHA256 \n DATE \n SCOPE \n hex(sha256(creq))
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" secret, day), region),
 *                            service), "aws4_request")
 *   signature         = hex(HMAC(signing key, string to sign))
 *
 * Header values are trimmed and inner runs of spaces collapsed, as the
 * specification asks. Nothing here logs: secrets never leave this file
 * except inside the signature.
 */
#include "config.h"
#include "objstore/sigv4.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define SCOPE_TERM "aws4_request"

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
}

int sigv4_uri_encode(struct buf *out, const char *s, size_t len, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	char *p;

	/* worst case: every byte becomes %XX */
	if (len > ((size_t)-1) / 3 || buf_reserve(out, len * 3))
		return ENOMEM;
	p = out->data + out->len;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	out->len = (size_t)(p - out->data);
	out->data[out->len] = '\0';
	return 0;
}

struct enc_param {
	char *name;	/* points into the shared buffer of encoded text */
	char *value;
};

static int enc_param_cmp(const void *a, const void *b)
{
	const struct enc_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

int sigv4_canonical_query(struct buf *out, const struct sigv4_param *params, size_t n)
{
	struct enc_param *enc;
	struct buf text = BUF_INIT;
	size_t *offs;
	size_t i;
	int rc = ENOMEM;

	if (n == 0)
		return 0;
	enc = calloc(n, sizeof(*enc));
	offs = calloc(2 * n, sizeof(*offs));
	if (!enc || !offs)
		goto out_free;
	/* encode everything into one buffer (NUL-separated), then point */
	for (i = 0; i < n; i++) {
		const char *v = params[i].value ? params[i].value : "";

		offs[2 * i] = text.len;
		if (sigv4_uri_encode(&text, params[i].name, strlen(params[i].name), false) ||
		    buf_append(&text, "", 1))
			goto out_free;
		offs[2 * i + 1] = text.len;
		if (sigv4_uri_encode(&text, v, strlen(v), false) || buf_append(&text, "", 1))
			goto out_free;
	}
	for (i = 0; i < n; i++) {
		enc[i].name = text.data + offs[2 * i];
		enc[i].value = text.data + offs[2 * i + 1];
	}
	qsort(enc, n, sizeof(*enc), enc_param_cmp);
	for (i = 0; i < n; i++) {
		if (buf_appendf(out, "%s%s=%s", i ? "&" : "", enc[i].name, enc[i].value))
			goto out_free;
	}
	rc = 0;
out_free:
	buf_release(&text);
	free(offs);
	free(enc);
	return rc;
}

static void to_hex(const unsigned char *md, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char hex[SIGV4_HEX_LEN + 1])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	to_hex(md, sizeof(md), hex);
}

static int header_ptr_cmp(const void *a, const void *b)
{
	const struct sigv4_header *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* Appends value with leading/trailing blanks removed and inner runs of
 * blanks collapsed to one space. */
static int append_trimmed(struct buf *out, const char *v)
{
	bool space = false;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = true;
			continue;
		}
		if (space && buf_append(out, " ", 1))
			return ENOMEM;
		space = false;
		if (buf_append(out, v, 1))
			return ENOMEM;
	}
	return 0;
}

/* Sorted pointers to rq's headers; caller frees. NULL on ENOMEM. */
static const struct sigv4_header **sorted_headers(const struct sigv4_request *rq)
{
	const struct sigv4_header **h;
	size_t i;

	h = malloc((rq->n_headers ? rq->n_headers : 1) * sizeof(*h));
	if (!h)
		return NULL;
	for (i = 0; i < rq->n_headers; i++)
		h[i] = &rq->headers[i];
	qsort(h, rq->n_headers, sizeof(*h), header_ptr_cmp);
	return h;
}

static int append_signed_names(struct buf *out, const struct sigv4_header **h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (buf_appendf(out, "%s%s", i ? ";" : "", h[i]->name))
			return ENOMEM;
	}
	return 0;
}

int sigv4_canonical_request(const struct sigv4_request *rq, struct buf *out)
{
	const struct sigv4_header **h;
	size_t i;
	int rc = ENOMEM;

	h = sorted_headers(rq);
	if (!h)
		return ENOMEM;
	buf_reset(out);
	if (buf_appendf(out, "%s\n%s\n%s\n", rq->method, rq->path, rq->query))
		goto out_free;
	for (i = 0; i < rq->n_headers; i++) {
		if (buf_appendf(out, "%s:", h[i]->name) || append_trimmed(out, h[i]->value) ||
		    buf_append(out, "\n", 1))
			goto out_free;
	}
	if (buf_append(out, "\n", 1) || append_signed_names(out, h, rq->n_headers) ||
	    buf_appendf(out, "\n%s", rq->payload_hash))
		goto out_free;
	rc = 0;
out_free:
	free(h);
	return rc;
}

void sigv4_amz_date(long long t, char date[17])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(date, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void hmac(const void *key, size_t keylen, const char *msg, unsigned char md[32])
{
	unsigned int mdlen = 32;

	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), md,
	     &mdlen);
}

static int signing_key(const struct sigv4_key *key, const char *day, unsigned char k[32])
{
	struct buf secret = BUF_INIT;

	if (buf_appendf(&secret, "AWS4%s", key->secret_key))
		return ENOMEM;
	hmac(secret.data, secret.len, day, k);
	/* the secret must not linger in freed heap memory */
	OPENSSL_cleanse(secret.data, secret.len);
	buf_release(&secret);
	hmac(k, 32, key->region, k);
	hmac(k, 32, key->service, k);
	hmac(k, 32, SCOPE_TERM, k);
	return 0;
}

int sigv4_authorization(const struct sigv4_request *rq, const struct sigv4_key *key,
			const char *amz_date, struct buf *out,
			char signature[SIGV4_HEX_LEN + 1])
{
	struct buf creq = BUF_INIT, sts = BUF_INIT;
	const struct sigv4_header **h = NULL;
	unsigned char k[32], md[32];
	char day[9], creq_hash[SIGV4_HEX_LEN + 1], sig[SIGV4_HEX_LEN + 1];
	int rc;

	if (strlen(amz_date) != 16)
		return EINVAL;
	memcpy(day, amz_date, 8);
	day[8] = '\0';
	rc = sigv4_canonical_request(rq, &creq);
	if (rc)
		goto out_free;
	sigv4_sha256_hex(creq.data, creq.len, creq_hash);
	rc = ENOMEM;
	if (buf_appendf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/%s\n%s", amz_date, day,
			key->region, key->service, SCOPE_TERM, creq_hash))
		goto out_free;
	if (signing_key(key, day, k))
		goto out_free;
	hmac(k, sizeof(k), sts.data, md);
	OPENSSL_cleanse(k, sizeof(k));
	to_hex(md, sizeof(md), sig);
	h = sorted_headers(rq);
	if (!h)
		goto out_free;
	if (buf_appendf(out, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/%s,SignedHeaders=",
			key->access_key, day, key->region, key->service, SCOPE_TERM) ||
	    append_signed_names(out, h, rq->n_headers) ||
	    buf_appendf(out, ",Signature=%s", sig))
		goto out_free;
	if (signature)
		memcpy(signature, sig, sizeof(sig));
	rc = 0;
out_free:
	free(h);
	buf_release(&sts);
	buf_release(&creq);
	return rc;
}
