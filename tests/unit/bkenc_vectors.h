/* Test helpers for the BKENC v1 tests (test_envelope.c, test_reader.c, test_fileio.c): the
 * tests/vectors/bkenc/vectors.json manifest loader and small shared checks. Header-only. */
#ifndef ESCROW_TEST_BKENC_VECTORS_H
#define ESCROW_TEST_BKENC_VECTORS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <yajl/yajl_tree.h>

#include "envelope_internal.h"
#include "testutil.h"

typedef struct bv_vector {
  const char *name, *file, *description;
  uint8_t cek[32];
  int expect; /* 0 = ok, else an ESCROW_E_* code */
  uint64_t pt_size;
  int seed;
  const char *sha256; /* hex, for ok */
  const char *expect_path;
  bool has_expect_tag;
  uint8_t expect_tag[32];
  bool repro;
  uint8_t salt[32];
  unsigned log2cs;
  const char *ctx[6]; /* by TLV type */
} bv_vector;

typedef struct bv_set {
  yajl_val root;
  size_t n;
  bv_vector *v;
} bv_set;

static inline int bv_code(const char *name) {
  static const struct {
    const char *n;
    int c;
  } map[] = {{"ok", 0},
             {"ESCROW_E_FORMAT", ESCROW_E_FORMAT},
             {"ESCROW_E_AUTH", ESCROW_E_AUTH},
             {"ESCROW_E_UNSUPPORTED", ESCROW_E_UNSUPPORTED},
             {"ESCROW_E_TRUNCATED", ESCROW_E_TRUNCATED},
             {"ESCROW_E_LIMIT", ESCROW_E_LIMIT},
             {"ESCROW_E_MISMATCH", ESCROW_E_MISMATCH}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(map[i].n, name) == 0)
      return map[i].c;
  fail_msg("unknown expected code %s in vectors.json", name);
  return 1;
}

static inline yajl_val bv_get(yajl_val o, const char *key, yajl_type t) {
  const char *path[] = {key, NULL};
  return yajl_tree_get(o, path, t);
}

static inline const char *bv_str(yajl_val o, const char *key) {
  yajl_val s = bv_get(o, key, yajl_t_string);
  return s ? YAJL_GET_STRING(s) : NULL;
}

static inline void bv_hex(uint8_t *out, size_t len, const char *hex) {
  assert_non_null(hex);
  assert_int_equal(escrow__unhex(out, len, hex), 0);
}

static inline bv_set bv_load(void) {
  bv_set s = {0};
  size_t len;
  uint8_t *text = tu_read(tu_vector("bkenc/vectors.json"), &len);
  text = realloc(text, len + 1);
  text[len] = '\0';
  char err[256];
  s.root = yajl_tree_parse((const char *)text, err, sizeof err);
  free(text);
  if (s.root == NULL)
    fail_msg("vectors.json: %s", err);
  yajl_val arr = bv_get(s.root, "vectors", yajl_t_array);
  assert_non_null(arr);
  s.n = YAJL_GET_ARRAY(arr)->len;
  s.v = calloc(s.n, sizeof *s.v);
  for (size_t i = 0; i < s.n; i++) {
    yajl_val o = YAJL_GET_ARRAY(arr)->values[i];
    bv_vector *v = &s.v[i];
    v->name = bv_str(o, "name");
    v->file = bv_str(o, "file");
    v->description = bv_str(o, "description");
    bv_hex(v->cek, 32, bv_str(o, "cek"));
    v->expect = bv_code(bv_str(o, "expect"));
    if (v->expect == 0) {
      v->pt_size = (uint64_t)YAJL_GET_INTEGER(bv_get(o, "plaintext_size", yajl_t_number));
      v->seed = (int)YAJL_GET_INTEGER(bv_get(o, "plaintext_seed", yajl_t_number));
      v->sha256 = bv_str(o, "plaintext_sha256");
    }
    yajl_val opt = bv_get(o, "options", yajl_t_object);
    if (opt != NULL) {
      v->expect_path = bv_str(opt, "expect_path");
      if (bv_str(opt, "expect_hdrtag") != NULL) {
        v->has_expect_tag = true;
        bv_hex(v->expect_tag, 32, bv_str(opt, "expect_hdrtag"));
      }
    }
    yajl_val rep = bv_get(o, "reproducible", yajl_t_object);
    if (rep != NULL) {
      v->repro = true;
      bv_hex(v->salt, 32, bv_str(rep, "salt"));
      v->log2cs = (unsigned)YAJL_GET_INTEGER(bv_get(rep, "log2cs", yajl_t_number));
      yajl_val c = bv_get(rep, "context", yajl_t_object);
      static const char *keys[6] = {"", "project_id", "role", "asset", "path", "key_id"};
      for (int t = 1; t <= 5 && c != NULL; t++)
        v->ctx[t] = bv_str(c, keys[t]);
    }
  }
  assert_true(s.n >= 40);
  return s;
}

static inline void bv_free(bv_set *s) {
  yajl_tree_free(s->root);
  free(s->v);
}

static inline uint8_t *bv_read(const bv_vector *v, size_t *len) {
  char rel[512];
  snprintf(rel, sizeof rel, "bkenc/%s", v->file);
  return tu_read(tu_vector(rel), len);
}

static inline escrow_cek *bv_cek(const uint8_t key[32]) {
  escrow_cek *c = NULL;
  assert_int_equal(escrow_cek_from_bytes(&c, key, 32), 0);
  return c;
}

static inline escrow_decrypt_options bv_opts(const bv_vector *v) {
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  o.expect_path = v->expect_path;
  o.expect_hdrtag = v->has_expect_tag ? v->expect_tag : NULL;
  return o;
}

/* The vectors' plaintext: byte i = (i % 251 + seed) % 256. */
static inline uint8_t *bv_plaintext(uint64_t size, int seed) {
  uint8_t *p = malloc(size ? size : 1);
  for (uint64_t i = 0; i < size; i++)
    p[i] = (uint8_t)((i % 251 + (uint64_t)seed) % 256);
  return p;
}

static inline void bv_sha256_hex(char out[65], const uint8_t *data, size_t len) {
  uint8_t md[32];
  unsigned mdlen = 0;
  assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
  escrow__hex(out, md, 32);
}

static inline const char *bv_code_name(int code) {
  switch (code) {
  case 0: return "ok";
  case ESCROW_E_FORMAT: return "ESCROW_E_FORMAT";
  case ESCROW_E_AUTH: return "ESCROW_E_AUTH";
  case ESCROW_E_UNSUPPORTED: return "ESCROW_E_UNSUPPORTED";
  case ESCROW_E_TRUNCATED: return "ESCROW_E_TRUNCATED";
  case ESCROW_E_LIMIT: return "ESCROW_E_LIMIT";
  case ESCROW_E_MISMATCH: return "ESCROW_E_MISMATCH";
  case ESCROW_E_STATE: return "ESCROW_E_STATE";
  case ESCROW_E_BUFSIZE: return "ESCROW_E_BUFSIZE";
  case ESCROW_E_NOMEM: return "ESCROW_E_NOMEM";
  default: return "other";
  }
}

/* 1 if every byte of buf[0..len) is the 0xAA sentinel or a wiped 0x00: nothing else (no
 * plaintext, verified or not) was left there. */
static inline int bv_untouched(const uint8_t *buf, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (buf[i] != 0xAA && buf[i] != 0x00)
      return 0;
  return 1;
}

#endif
