/* libescrow blob internals: the sans-I/O List Blobs XML reader (fuzzed on its own). */
#ifndef ESCROW_BLOB_INTERNAL_H
#define ESCROW_BLOB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"
#include "escrow/blob.h"

#define ESCROW__BLOB_NAME_MAX 1024
#define ESCROW__BLOB_FIELD_MAX 256

typedef struct escrow__blob_list_parser escrow__blob_list_parser;

/* A reader of one List Blobs response (an <EnumerationResults> document), fed in pieces.
 * cb is called for each <Blob> as soon as its element closes. */
int escrow__blob_list_parser_new(escrow__blob_list_parser **out, escrow_blob_list_cb cb,
                                 void *payload);

/* Feed bytes. Returns 0, ESCROW_E_FORMAT (not well-formed XML, a DOCTYPE, another root, a
 * <Blob> without <Name> or with a bad <Content-Length>), ESCROW_E_LIMIT (a name over 1024
 * bytes, a field over 256), ESCROW_E_NOMEM, or the callback's nonzero value. After an error
 * the parser is dead (every call returns the same code). */
int escrow__blob_list_parser_feed(escrow__blob_list_parser *p, const char *data, size_t len);

/* End of the document. *next_marker receives the NextMarker (escrow__free), or NULL when the
 * listing is complete. Errors as feed (ESCROW_E_FORMAT for a document that ended early). */
int escrow__blob_list_parser_finish(escrow__blob_list_parser *p, char **next_marker);

/* Number of <Blob> entries reported so far. */
size_t escrow__blob_list_parser_count(const escrow__blob_list_parser *p);

void escrow__blob_list_parser_free(escrow__blob_list_parser *p);

#endif
