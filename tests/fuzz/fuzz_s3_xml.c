/*
 * fuzz_s3_xml.c - libFuzzer target: every S3 XML reply parser on arbitrary
 * bytes. They must return 0 or an errno, never crash, leak or read out of
 * bounds; whatever they return must be releasable.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objstore/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	const char *d = (const char *)data;
	struct s3_xml_error err;
	struct os_list_page page;
	struct os_upload_list uploads;
	char etag[OS_ETAG_MAX];
	char *id = NULL, *next_key = NULL, *next_id = NULL;
	size_t n_errors;

	if (!inited) {
		s3_xml_init();
		inited = 1;
	}
	s3_xml_parse_error(d, size, &err);
	memset(&page, 0, sizeof(page));
	if (s3_xml_parse_list(d, size, &page, &err) == 0)
		os_list_page_release(&page);
	if (s3_xml_parse_upload_id(d, size, &id, &err) == 0)
		free(id);
	s3_xml_parse_etag(d, size, etag, &err);
	s3_xml_parse_delete(d, size, &n_errors, &err, &err);
	memset(&uploads, 0, sizeof(uploads));
	s3_xml_parse_uploads(d, size, &uploads, &next_key, &next_id, &err);
	os_upload_list_release(&uploads);
	free(next_key);
	free(next_id);
	return 0;
}
