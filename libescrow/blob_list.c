/*
 * libescrow blob: the List Blobs response reader (expat, sans-I/O).
 *
 * <EnumerationResults ...>
 *   <Prefix/> <Marker/> <MaxResults>n</MaxResults>
 *   <Blobs>
 *     <Blob><Name [Encoded="true"]>..</Name>
 *       <Properties><Last-Modified>..</Last-Modified><Etag>..</Etag>
 *         <Content-Length>n</Content-Length><Content-MD5>b64</Content-MD5>...</Properties>
 *     </Blob>...
 *     <BlobPrefix><Name>..</Name></BlobPrefix>...
 *   </Blobs>
 *   <NextMarker>..</NextMarker>
 * </EnumerationResults>
 */
#include <string.h>

#include <expat.h>

#include "blob_internal.h"
#include "sas_internal.h"

enum field {
  F_NONE = 0,
  F_NAME,
  F_LENGTH,
  F_MD5,
  F_ETAG,
  F_MODIFIED,
  F_NEXT_MARKER
};

struct escrow__blob_list_parser {
  XML_Parser xp;
  escrow_blob_list_cb cb;
  void *payload;
  int error; /* sticky */
  /* element path: which of the interesting elements we are inside */
  bool in_root, in_blobs, in_blob, in_props;
  unsigned unknown_depth; /* > 0 inside elements we skip */
  enum field field;
  char buf[ESCROW__BLOB_NAME_MAX + 1];
  size_t buf_len;
  bool name_encoded;
  /* the current blob */
  char name[ESCROW__BLOB_NAME_MAX + 1];
  bool has_name, has_length;
  uint64_t length;
  char md5[ESCROW__BLOB_FIELD_MAX + 1], etag[ESCROW__BLOB_FIELD_MAX + 1],
      modified[ESCROW__BLOB_FIELD_MAX + 1];
  bool has_md5, has_etag, has_modified;
  char *next_marker;
  bool root_closed;
  size_t count;
};

static void fail(escrow__blob_list_parser *p, int code) {
  if (p->error == 0)
    p->error = code;
  XML_StopParser(p->xp, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *el, const XML_Char **attrs) {
  escrow__blob_list_parser *p = ud;
  if (p->error)
    return;
  if (p->unknown_depth > 0) {
    p->unknown_depth++;
    return;
  }
  if (!p->in_root) {
    if (strcmp(el, "EnumerationResults") != 0 || p->root_closed) {
      escrow__err(ESCROW_E_FORMAT, "the listing is not a List Blobs document (root <%.40s>)", el);
      fail(p, ESCROW_E_FORMAT);
      return;
    }
    p->in_root = true;
    return;
  }
  if (p->field != F_NONE) {
    escrow__err(ESCROW_E_FORMAT, "the listing has an element inside a text field");
    fail(p, ESCROW_E_FORMAT);
    return;
  }
  enum field f = F_NONE;
  if (p->in_props) {
    if (strcmp(el, "Content-Length") == 0) f = F_LENGTH;
    else if (strcmp(el, "Content-MD5") == 0) f = F_MD5;
    else if (strcmp(el, "Etag") == 0) f = F_ETAG;
    else if (strcmp(el, "Last-Modified") == 0) f = F_MODIFIED;
  } else if (p->in_blob) {
    if (strcmp(el, "Name") == 0) {
      f = F_NAME;
      p->name_encoded = false;
      for (size_t i = 0; attrs && attrs[i]; i += 2)
        if (strcmp(attrs[i], "Encoded") == 0 && strcmp(attrs[i + 1], "true") == 0)
          p->name_encoded = true;
    } else if (strcmp(el, "Properties") == 0) {
      p->in_props = true;
      return;
    }
  } else if (p->in_blobs) {
    if (strcmp(el, "Blob") == 0) {
      p->in_blob = true;
      p->has_name = p->has_length = p->has_md5 = p->has_etag = p->has_modified = false;
      return;
    }
  } else {
    if (strcmp(el, "Blobs") == 0) {
      p->in_blobs = true;
      return;
    }
    if (strcmp(el, "NextMarker") == 0)
      f = F_NEXT_MARKER;
  }
  if (f == F_NONE) {
    p->unknown_depth = 1;
    return;
  }
  p->field = f;
  p->buf_len = 0;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len) {
  escrow__blob_list_parser *p = ud;
  if (p->error || p->field == F_NONE || p->unknown_depth > 0)
    return;
  size_t max = p->field == F_NAME || p->field == F_NEXT_MARKER ? ESCROW__BLOB_NAME_MAX
                                                               : ESCROW__BLOB_FIELD_MAX;
  if (p->field == F_NAME && p->name_encoded)
    max = 3 * ESCROW__BLOB_NAME_MAX;
  if (max > sizeof p->buf - 1)
    max = sizeof p->buf - 1;
  if (p->buf_len + (size_t)len > max) {
    escrow__err(ESCROW_E_LIMIT, "the listing has a %s longer than %zu bytes",
                p->field == F_NAME ? "blob name" : "field", max);
    fail(p, ESCROW_E_LIMIT);
    return;
  }
  memcpy(p->buf + p->buf_len, s, (size_t)len);
  p->buf_len += (size_t)len;
}

static void copy_field(char *dst, const escrow__blob_list_parser *p) {
  memcpy(dst, p->buf, p->buf_len);
  dst[p->buf_len] = '\0';
}

static void end_field(escrow__blob_list_parser *p) {
  p->buf[p->buf_len] = '\0';
  switch (p->field) {
  case F_NAME: {
    if (memchr(p->buf, '\0', p->buf_len) != NULL || p->buf_len == 0) {
      escrow__err(ESCROW_E_FORMAT, "the listing has an empty blob name");
      fail(p, ESCROW_E_FORMAT);
      return;
    }
    if (p->name_encoded) {
      char *d;
      int rc = escrow__pct_decode(&d, p->buf, p->buf_len, "an encoded blob name");
      if (rc) {
        fail(p, rc);
        return;
      }
      size_t n = strlen(d);
      if (n > ESCROW__BLOB_NAME_MAX || n == 0 || !escrow__utf8_valid((const uint8_t *)d, n)) {
        escrow__free(d);
        escrow__err(ESCROW_E_FORMAT, "the listing has an encoded blob name that is empty, too "
                                     "long or not UTF-8");
        fail(p, ESCROW_E_FORMAT);
        return;
      }
      memcpy(p->name, d, n + 1);
      escrow__free(d);
    } else {
      copy_field(p->name, p);
    }
    p->has_name = true;
    break;
  }
  case F_LENGTH: {
    uint64_t v = 0;
    if (p->buf_len == 0 || p->buf_len > 20) {
      escrow__err(ESCROW_E_FORMAT, "the listing has a bad Content-Length");
      fail(p, ESCROW_E_FORMAT);
      return;
    }
    for (size_t i = 0; i < p->buf_len; i++) {
      char c = p->buf[i];
      if (c < '0' || c > '9' || v > (UINT64_MAX - (uint64_t)(c - '0')) / 10) {
        escrow__err(ESCROW_E_FORMAT, "the listing has a bad Content-Length");
        fail(p, ESCROW_E_FORMAT);
        return;
      }
      v = v * 10 + (uint64_t)(c - '0');
    }
    p->length = v;
    p->has_length = true;
    break;
  }
  case F_MD5:
    copy_field(p->md5, p);
    p->has_md5 = p->buf_len > 0;
    break;
  case F_ETAG:
    copy_field(p->etag, p);
    p->has_etag = p->buf_len > 0;
    break;
  case F_MODIFIED:
    copy_field(p->modified, p);
    p->has_modified = p->buf_len > 0;
    break;
  case F_NEXT_MARKER:
    escrow__free(p->next_marker);
    p->next_marker = NULL;
    if (p->buf_len > 0) {
      p->next_marker = escrow__strndup(p->buf, p->buf_len);
      if (p->next_marker == NULL) {
        escrow__err_nomem();
        fail(p, ESCROW_E_NOMEM);
      }
    }
    break;
  case F_NONE:
    break;
  }
}

static void XMLCALL on_end(void *ud, const XML_Char *el) {
  escrow__blob_list_parser *p = ud;
  (void)el;
  if (p->error)
    return;
  if (p->unknown_depth > 0) {
    p->unknown_depth--;
    return;
  }
  if (p->field != F_NONE) {
    end_field(p);
    p->field = F_NONE;
    return;
  }
  if (p->in_props) {
    p->in_props = false;
  } else if (p->in_blob) {
    p->in_blob = false;
    if (!p->has_name || !p->has_length) {
      escrow__err(ESCROW_E_FORMAT, "the listing has a <Blob> without %s",
                  p->has_name ? "<Content-Length>" : "<Name>");
      fail(p, ESCROW_E_FORMAT);
      return;
    }
    escrow_blob_item item = {p->name, p->length, p->has_md5 ? p->md5 : NULL,
                             p->has_etag ? p->etag : NULL, p->has_modified ? p->modified : NULL};
    p->count++;
    int rc = p->cb ? p->cb(p->payload, &item) : 0;
    if (rc != 0)
      fail(p, rc);
  } else if (p->in_blobs) {
    p->in_blobs = false;
  } else if (p->in_root) {
    p->in_root = false;
    p->root_closed = true;
  }
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset) {
  escrow__blob_list_parser *p = ud;
  (void)name;
  (void)sysid;
  (void)pubid;
  (void)has_internal_subset;
  escrow__err(ESCROW_E_FORMAT, "the listing has a DOCTYPE, which List Blobs never sends");
  fail(p, ESCROW_E_FORMAT);
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *entityName,
                                   int is_parameter_entity, const XML_Char *value,
                                   int value_length, const XML_Char *base,
                                   const XML_Char *systemId, const XML_Char *publicId,
                                   const XML_Char *notationName) {
  (void)entityName, (void)is_parameter_entity, (void)value, (void)value_length, (void)base;
  (void)systemId, (void)publicId, (void)notationName;
  escrow__blob_list_parser *p = ud;
  escrow__err(ESCROW_E_FORMAT, "the listing declares an entity");
  fail(p, ESCROW_E_FORMAT);
}

/* expat's allocator hooks, so allocation-failure tests reach inside it */
static void *xml_malloc(size_t n) { return escrow__malloc(n); }
static void *xml_realloc(void *q, size_t n) { return escrow__realloc(q, n); }
static void xml_free(void *q) { escrow__free(q); }

int escrow__blob_list_parser_new(escrow__blob_list_parser **out, escrow_blob_list_cb cb,
                                 void *payload) {
  *out = NULL;
  escrow__blob_list_parser *p = escrow__calloc(1, sizeof *p);
  if (p == NULL)
    return escrow__err_nomem();
  static const XML_Memory_Handling_Suite mem = {xml_malloc, xml_realloc, xml_free};
  p->xp = XML_ParserCreate_MM("UTF-8", &mem, NULL);
  if (p->xp == NULL) {
    escrow__free(p);
    return escrow__err_nomem();
  }
  p->cb = cb;
  p->payload = payload;
  XML_SetUserData(p->xp, p);
  XML_SetElementHandler(p->xp, on_start, on_end);
  XML_SetCharacterDataHandler(p->xp, on_text);
  XML_SetStartDoctypeDeclHandler(p->xp, on_doctype);
  XML_SetEntityDeclHandler(p->xp, on_entity_decl);
  XML_SetParamEntityParsing(p->xp, XML_PARAM_ENTITY_PARSING_NEVER);
  *out = p;
  return 0;
}

static int xml_error(escrow__blob_list_parser *p) {
  if (p->error)
    return p->error;
  enum XML_Error e = XML_GetErrorCode(p->xp);
  if (e == XML_ERROR_NO_MEMORY) {
    p->error = escrow__err_nomem();
    return p->error;
  }
  p->error = escrow__err(ESCROW_E_FORMAT, "the listing is not well-formed XML: %s (line %lu)",
                         XML_ErrorString(e), (unsigned long)XML_GetCurrentLineNumber(p->xp));
  return p->error;
}

int escrow__blob_list_parser_feed(escrow__blob_list_parser *p, const char *data, size_t len) {
  if (p->error)
    return p->error;
  while (len > 0) {
    int n = len > (1u << 30) ? (1 << 30) : (int)len;
    if (XML_Parse(p->xp, data, n, XML_FALSE) != XML_STATUS_OK)
      return xml_error(p);
    data += n;
    len -= (size_t)n;
  }
  return p->error;
}

int escrow__blob_list_parser_finish(escrow__blob_list_parser *p, char **next_marker) {
  *next_marker = NULL;
  if (p->error)
    return p->error;
  if (XML_Parse(p->xp, "", 0, XML_TRUE) != XML_STATUS_OK)
    return xml_error(p);
  if (p->error)
    return p->error;
  if (!p->root_closed)
    return p->error = escrow__err(ESCROW_E_FORMAT, "the listing ended before </EnumerationResults>");
  *next_marker = p->next_marker;
  p->next_marker = NULL;
  return 0;
}

size_t escrow__blob_list_parser_count(const escrow__blob_list_parser *p) { return p->count; }

void escrow__blob_list_parser_free(escrow__blob_list_parser *p) {
  if (p == NULL)
    return;
  XML_ParserFree(p->xp);
  escrow__free(p->next_marker);
  escrow__free(p);
}
