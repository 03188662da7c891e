/*
 * s3_xml.h - the XML documents of the S3 API (libxml2), parsed into the
 * objstore types, and the two request bodies lithfs sends.
 *
 * Every parser takes a whole response body and returns
 *   0          the expected document, out-parameters filled (and owned by
 *              the caller);
 *   EREMOTEIO  the body is an <Error> document (S3 sends these inside a 200
 *              for CompleteMultipartUpload and CopyObject): err->code and
 *              err->message are set and the caller maps them to an errno;
 *   EIO        malformed XML or an unexpected root element: err->message
 *              says what was wrong (err->code is "");
 *   ENOMEM.
 * Elements are matched by local name, so the S3 namespace is optional.
 * Parsing never touches the network (no DTD, no external entities) and is
 * thread-safe once s3_xml_init() ran.
 */
#ifndef LITHFS_OBJSTORE_S3_XML_H
#define LITHFS_OBJSTORE_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objstore/objstore.h"
#include "util/buf.h"

struct s3_xml_error {
	char code[64];		/* S3 error code ("NoSuchKey"), "" if none */
	char message[256];	/* human-readable message, may be "" */
};

/* Initialises libxml2 once; call from a single thread before any parse
 * (s3_store_create does). */
void s3_xml_init(void);

/* An <Error> body (Code, Message). EIO if it is not one. */
int s3_xml_parse_error(const char *data, size_t len, struct s3_xml_error *err);

/* ListObjectsV2 result. When the document says <EncodingType>url (the
 * request asked for encoding-type=url and the server honoured it) keys and
 * prefixes are percent-decoded; a server that ignored the request sends raw
 * keys, which are then left alone. */
int s3_xml_parse_list(const char *data, size_t len, struct os_list_page *out,
		      struct s3_xml_error *err);

/* InitiateMultipartUploadResult: the UploadId (caller frees). */
int s3_xml_parse_upload_id(const char *data, size_t len, char **upload_id,
			   struct s3_xml_error *err);

/* The ETag (unquoted) of CompleteMultipartUploadResult, CopyObjectResult or
 * CopyPartResult, whichever root element the body has; "" when the element
 * is empty or missing (radosgw sends <ETag></ETag> on completion). Any other
 * root is EIO. */
int s3_xml_parse_etag(const char *data, size_t len, char etag[OS_ETAG_MAX],
		      struct s3_xml_error *err);

/* DeleteResult: *n_errors counts the <Error> entries, except those whose
 * Code is NoSuchKey; the first of them is copied into first (Key is put
 * in first->message when the entry has no Message). */
int s3_xml_parse_delete(const char *data, size_t len, size_t *n_errors,
			struct s3_xml_error *first, struct s3_xml_error *err);

/* ListMultipartUploadsResult (EncodingType as for lists): appends to out; *next_key and *next_id get the
 * markers of the next page (caller frees) or NULL when it was the last. */
int s3_xml_parse_uploads(const char *data, size_t len, struct os_upload_list *out,
			 char **next_key, char **next_id, struct s3_xml_error *err);

/* Request bodies, XML-escaped. 0, ENOMEM, or EILSEQ when a key (or ETag)
 * holds a control character that XML 1.0 cannot carry (tab, newline and
 * carriage return can): such keys must be sent another way. */
int s3_xml_complete_body(struct buf *out, const struct os_part *parts, size_t n);
int s3_xml_delete_body(struct buf *out, const char *const *keys, size_t n, bool quiet);

/* Percent-decodes s in place ("%41" -> "A", '+' -> ' '). 0, or EINVAL for
 * a malformed escape. */
int s3_url_decode(char *s);

/* Parses an ISO 8601 UTC time "2009-10-12T17:50:30.000Z" into ns since the
 * epoch. 0 or EINVAL. */
int s3_parse_iso8601(const char *s, int64_t *ns);

/* Copies an ETag without its surrounding quotes (and W/ prefix) into out.
 * Over-long values are truncated. */
void s3_etag_copy(char out[OS_ETAG_MAX], const char *etag, size_t len);

#endif
