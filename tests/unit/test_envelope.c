/* BKENC v1 envelope: headers, sizes, the streaming encryptor and decryptor (DESIGN §3). */
#include "bkenc_vectors.h"

#define CS14 ((size_t)1 << 14)
#define CTS14 (CS14 + ESCROW_BKENC_CHUNK_TAG_BYTES)

/* ---- helpers ---------------------------------------------------------------------------------- */

enum { SPLIT_ONE = 0, SPLIT_BYTES = 1, SPLIT_RANDOM = 2, SPLIT_CHUNKISH = 3 };

static size_t next_piece(int mode, size_t left, unsigned *seed) {
  size_t n;
  switch (mode) {
  case SPLIT_ONE: n = left; break;
  case SPLIT_BYTES: n = 1; break;
  case SPLIT_CHUNKISH: n = CTS14 - 1 + (size_t)(rand_r(seed) % 3); break;
  default: n = 1 + (size_t)rand_r(seed) % (3 * CTS14); break;
  }
  return n > left ? left : n;
}

typedef struct dec_result {
  int rc;
  uint8_t *out; /* cap bytes, 0xAA-filled before */
  size_t cap;
  size_t released; /* from calls that succeeded */
  char msg[512];
} dec_result;

/* Decrypt data fed in pieces; the output area is checked for leaks by the caller. */
static dec_result dec_all(const escrow_cek *cek, const escrow_decrypt_options *opts,
                          const uint8_t *data, size_t len, int mode, unsigned seed) {
  dec_result r = {0};
  r.cap = len + 1;
  r.out = malloc(r.cap);
  memset(r.out, 0xAA, r.cap);
  escrow_decryptor *d = NULL;
  assert_int_equal(escrow_decryptor_new(&d, cek, opts), 0);
  size_t pos = 0;
  while (pos < len) {
    size_t n = next_piece(mode, len - pos, &seed), w = 12345;
    size_t bound = escrow_decryptor_update_bound(d, n);
    r.rc = escrow_decryptor_update(d, r.out + r.released, r.cap - r.released, &w, data + pos, n);
    if (r.rc != 0) {
      assert_int_equal(w, 0);
      break;
    }
    assert_true(w <= bound);
    r.released += w;
    pos += n;
  }
  if (r.rc == 0) {
    size_t w = 12345;
    r.rc = escrow_decryptor_final(d, r.out + r.released, r.cap - r.released, &w);
    if (r.rc == 0)
      r.released += w;
    else
      assert_int_equal(w, 0);
  }
  if (r.rc != 0) {
    snprintf(r.msg, sizeof r.msg, "%s", escrow_error_last());
    /* A dead handle stays dead. */
    size_t w;
    uint8_t b[1];
    assert_int_equal(escrow_decryptor_update(d, b, 1, &w, b, 1), ESCROW_E_STATE);
    assert_int_equal(escrow_decryptor_final(d, b, 1, &w), ESCROW_E_STATE);
  }
  escrow_decryptor_free(d);
  return r;
}

/* Encrypt pt in pieces; returns the ciphertext (caller frees). */
static uint8_t *enc_all(const escrow_cek *cek, const escrow_encrypt_options *opts,
                        const uint8_t *salt, const uint8_t *pt, size_t len, int mode,
                        unsigned seed, size_t *out_len) {
  escrow_encryptor *e = NULL;
  if (salt != NULL)
    assert_int_equal(escrow__encryptor_new_with_salt(&e, cek, opts, salt), 0);
  else
    assert_int_equal(escrow_encryptor_new(&e, cek, opts), 0);
  const escrow_header *h = escrow_encryptor_header(e);
  uint64_t total = escrow_bkenc_ciphertext_size(len, escrow_header_log2cs(h),
                                                escrow_header_length(h));
  uint8_t *out = malloc(total);
  size_t w = 0, pos = 0;
  while (pos < len) {
    size_t n = next_piece(mode, len - pos, &seed), got = 0;
    size_t bound = escrow_encryptor_update_bound(e, n);
    assert_true(w + bound <= total);
    assert_int_equal(escrow_encryptor_update(e, out + w, total - w, &got, pt + pos, n), 0);
    assert_true(got <= bound);
    w += got;
    pos += n;
  }
  size_t got = 0, fb = escrow_encryptor_final_bound(e);
  assert_int_equal(escrow_encryptor_final(e, out + w, total - w, &got), 0);
  assert_true(got <= fb);
  w += got;
  assert_int_equal(w, total);
  assert_int_equal(escrow_encryptor_plaintext_size(e), len);
  escrow_encryptor_free(e);
  *out_len = w;
  return out;
}

static void check_no_leak(const dec_result *r) {
  if (!bv_untouched(r->out + r->released, r->cap - r->released))
    fail_msg("unverified or withheld plaintext left in the output after an error");
}

/* ---- vectors ---------------------------------------------------------------------------------- */

static void test_vectors_decrypt_as_the_manifest_says(void **state) {
  (void)state;
  bv_set s = bv_load();
  for (size_t i = 0; i < s.n; i++) {
    bv_vector *v = &s.v[i];
    size_t len;
    uint8_t *data = bv_read(v, &len);
    escrow_cek *cek = bv_cek(v->cek);
    escrow_decrypt_options o = bv_opts(v);
    for (int mode = SPLIT_ONE; mode <= SPLIT_CHUNKISH; mode++) {
      dec_result r = dec_all(cek, &o, data, len, mode, (unsigned)i);
      if (r.rc != v->expect)
        fail_msg("%s (split %d): expected %s, got %s: %s", v->name, mode,
                 bv_code_name(v->expect), bv_code_name(r.rc), r.msg);
      if (v->expect == 0) {
        char hex[65];
        assert_int_equal(r.released, v->pt_size);
        bv_sha256_hex(hex, r.out, r.released);
        if (strcmp(hex, v->sha256) != 0)
          fail_msg("%s: plaintext differs", v->name);
      } else {
        check_no_leak(&r);
      }
      free(r.out);
    }
    escrow_cek_free(cek);
    free(data);
  }
  bv_free(&s);
}

static void test_canonical_vectors_are_reproduced_byte_for_byte(void **state) {
  (void)state;
  bv_set s = bv_load();
  int checked = 0;
  for (size_t i = 0; i < s.n; i++) {
    bv_vector *v = &s.v[i];
    if (!v->repro)
      continue;
    size_t len, got;
    uint8_t *data = bv_read(v, &len);
    escrow_cek *cek = bv_cek(v->cek);
    escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
    o.log2cs = v->log2cs;
    o.context.project_id = v->ctx[1];
    o.context.role = v->ctx[2];
    o.context.asset = v->ctx[3];
    o.context.path = v->ctx[4];
    o.context.key_id = v->ctx[5];
    uint64_t ptlen = v->expect == 0 ? v->pt_size : 20;
    int seed = v->expect == 0 ? v->seed : -1;
    if (seed < 0)
      continue; /* negative vectors made by the canonical writer carry no plaintext info */
    uint8_t *pt = bv_plaintext(ptlen, seed);
    for (int mode = SPLIT_ONE; mode <= SPLIT_RANDOM; mode += 2) {
      uint8_t *ct = enc_all(cek, &o, v->salt, pt, ptlen, mode, 7, &got);
      if (got != len || memcmp(ct, data, len) != 0)
        fail_msg("%s: the C writer does not reproduce the vector", v->name);
      free(ct);
    }
    checked++;
    free(pt);
    escrow_cek_free(cek);
    free(data);
  }
  assert_true(checked >= 10);
  bv_free(&s);
}

/* Each failure rule says what went wrong in its own words. */
static void test_each_failure_has_its_own_message(void **state) {
  (void)state;
  static const struct {
    const char *vector, *words;
  } cases[] = {
      {"truncated_header", "truncated header"},
      {"empty_file", "input is empty"},
      {"magic_altered", "bad magic"},
      {"version_2", "version 2"},
      {"suite_2", "suite 2"},
      {"flags_1", "flags 0x01"},
      {"log2cs_13", "2^13"},
      {"log2cs_25", "2^25"},
      {"ctxlen_4097", "4096-byte limit"},
      {"tlv_overrun", "overruns"},
      {"tlv_truncated_header", "needs 3 or more"},
      {"tlv_zero_type", "type 0x00"},
      {"tlv_out_of_order", "strictly increasing"},
      {"tlv_duplicate", "appears twice"},
      {"tlv_zero_length", "zero length"},
      {"tlv_bad_utf8", "UTF-8"},
      {"path_dotdot", "clean relative path"},
      {"critical_tlv", "critical header context field 0x80"},
      {"hdrtag_flipped", "wrong key, or the file header was altered"},
      {"wrong_cek", "wrong key"},
      {"bad_tag_chunk1", "chunk 1 failed authentication"},
      {"bad_tag_chunk0", "chunk 0 failed authentication"},
      {"no_final_two_full", "after chunk 1, which is not final"},
      {"no_final_one_short", "short chunk 0 that is not marked final"},
      {"truncated_in_tag", "shorter than its tag"},
      {"header_only", "ends after the header"},
      {"trailing_garbage_short", "data after the final chunk (chunk 0)"},
      {"trailing_garbage_long", "data after the final chunk"},
      {"two_final_chunks", "second final chunk (chunk 1)"},
      {"last_chunk_empty", "final chunk 1 is empty"},
      {"expect_path_mismatch", "encrypted as 'dir/file.bin' but found at 'dir/other.bin'"},
      {"expect_path_absent", "no path"},
      {"expect_hdrtag_mismatch", "header tag is not the expected one"},
  };
  bv_set s = bv_load();
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    bv_vector *v = NULL;
    for (size_t i = 0; i < s.n; i++)
      if (strcmp(s.v[i].name, cases[c].vector) == 0)
        v = &s.v[i];
    if (v == NULL)
      fail_msg("no vector %s", cases[c].vector);
    size_t len;
    uint8_t *data = bv_read(v, &len);
    escrow_cek *cek = bv_cek(v->cek);
    escrow_decrypt_options o = bv_opts(v);
    dec_result r = dec_all(cek, &o, data, len, SPLIT_ONE, 1);
    assert_int_not_equal(r.rc, 0);
    if (strstr(r.msg, cases[c].words) == NULL)
      fail_msg("%s: message \"%s\" does not say \"%s\"", v->name, r.msg, cases[c].words);
    free(r.out);
    escrow_cek_free(cek);
    free(data);
  }
  bv_free(&s);
}

/* ---- round trips ------------------------------------------------------------------------------- */

static void test_roundtrip_every_split(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  static const size_t sizes[] = {0, 1, 15, 16, 17, CS14 - 1, CS14, CS14 + 1, 2 * CS14,
                                 2 * CS14 + 1, 3 * CS14 + 777};
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  o.log2cs = 14;
  o.context.path = "a/b.csv";
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(sizes); i++) {
    uint8_t *pt = malloc(sizes[i] + 1);
    tu_fill(pt, sizes[i], (uint32_t)i);
    for (int emode = SPLIT_ONE; emode <= SPLIT_CHUNKISH; emode++) {
      if (emode == SPLIT_BYTES && sizes[i] > 2 * CS14 + 1)
        continue;
      size_t ctlen;
      uint8_t *ct = enc_all(cek, &o, NULL, pt, sizes[i], emode, (unsigned)i, &ctlen);
      assert_int_equal(ctlen, escrow_bkenc_ciphertext_size(sizes[i], 14, 78 + 3 + 7));
      int dmode = (emode + 1) % 4;
      dec_result r = dec_all(cek, NULL, ct, ctlen, dmode, (unsigned)i + 99);
      if (r.rc != 0)
        fail_msg("size %zu: %s", sizes[i], r.msg);
      assert_int_equal(r.released, sizes[i]);
      assert_memory_equal(r.out, pt, sizes[i]);
      free(r.out);
      free(ct);
    }
    free(pt);
  }
  escrow_cek_free(cek);
}

static void test_default_chunk_size_is_64k_and_files_differ_each_time(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  uint8_t pt[100];
  tu_fill(pt, sizeof pt, 3);
  size_t l1, l2;
  uint8_t *a = enc_all(cek, NULL, NULL, pt, sizeof pt, SPLIT_ONE, 0, &l1);
  uint8_t *b = enc_all(cek, NULL, NULL, pt, sizeof pt, SPLIT_ONE, 0, &l2);
  assert_int_equal(l1, 78 + 100 + 16);
  assert_int_equal(a[10], 16);
  assert_int_equal(l1, l2);
  /* A fresh salt per file: headers and ciphertexts differ. */
  assert_memory_not_equal(a + 12, b + 12, 32);
  assert_memory_not_equal(a + 78, b + 78, 100);
  free(a);
  free(b);
  escrow_cek_free(cek);
}

/* ---- handle states and buffer sizes ---------------------------------------------------------- */

static void test_encryptor_refuses_bad_options(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  escrow_encryptor *e = (escrow_encryptor *)1;
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  o.log2cs = 13;
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), ESCROW_E_INVALID);
  assert_null(e);
  o.log2cs = 25;
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), ESCROW_E_INVALID);
  o.log2cs = 0;
  o.context.path = "../x";
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), ESCROW_E_INVALID);
  o.context.path = "/abs";
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), ESCROW_E_INVALID);
  o.context.path = NULL;
  o.context.project_id = "";
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), ESCROW_E_INVALID);
  o.context.project_id = "\xff";
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), ESCROW_E_INVALID);
  o.context.project_id = NULL;
  o.context.role = "admin";
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), ESCROW_E_INVALID);
  o.context.role = NULL;
  char big[4096];
  memset(big, 'a', sizeof big - 1);
  big[4093] = '\0'; /* 3 + 4093 = 4096: fits */
  o.context.asset = big;
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), 0);
  assert_int_equal(escrow_header_length(escrow_encryptor_header(e)), 78 + 4096);
  escrow_encryptor_free(e);
  o.context.key_id = "k"; /* 4 more bytes: over */
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), ESCROW_E_INVALID);
  o.version = 99;
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), ESCROW_E_INVALID);
  assert_int_equal(escrow_encryptor_new(&e, NULL, NULL), ESCROW_E_INVALID);
  escrow_cek_free(cek);
}

static void test_encryptor_bufsize_consumes_nothing_and_kills(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  escrow_encryptor *e = NULL;
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  o.log2cs = 14;
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), 0);
  uint8_t in[2 * CS14 + 1], out[3 * CTS14 + 100];
  tu_fill(in, sizeof in, 1);
  size_t bound = escrow_encryptor_update_bound(e, sizeof in), w = 99;
  assert_int_equal(bound, 78 + 2 * CTS14);
  assert_int_equal(escrow_encryptor_update(e, out, bound - 1, &w, in, sizeof in),
                   ESCROW_E_BUFSIZE);
  assert_int_equal(w, 0);
  assert_int_equal(escrow_encryptor_plaintext_size(e), 0);
  assert_int_equal(escrow_encryptor_update(e, out, sizeof out, &w, in, 1), ESCROW_E_STATE);
  assert_int_equal(escrow_encryptor_final(e, out, sizeof out, &w), ESCROW_E_STATE);
  escrow_encryptor_free(e);

  /* The exact bound is enough; final refuses a buffer one byte short. */
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), 0);
  assert_int_equal(escrow_encryptor_update(e, out, bound, &w, in, sizeof in), 0);
  assert_int_equal(w, bound);
  assert_int_equal(escrow_encryptor_final_bound(e), 1 + 16);
  assert_int_equal(escrow_encryptor_final(e, out, 16, &w), ESCROW_E_BUFSIZE);
  escrow_encryptor_free(e);

  /* After final, every call is a state error. */
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), 0);
  assert_int_equal(escrow_encryptor_final(e, out, sizeof out, &w), 0);
  assert_int_equal(w, 78 + 16);
  assert_int_equal(escrow_encryptor_update(e, out, sizeof out, &w, in, 1), ESCROW_E_STATE);
  assert_int_equal(escrow_encryptor_final(e, out, sizeof out, &w), ESCROW_E_STATE);
  escrow_encryptor_free(e);
  escrow_encryptor_free(NULL);
  escrow_cek_free(cek);
}

static void test_decryptor_bufsize_states_and_header(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  escrow_encrypt_options eo = ESCROW_ENCRYPT_OPTIONS_INIT;
  eo.log2cs = 14;
  uint8_t pt[CS14 + 5];
  tu_fill(pt, sizeof pt, 9);
  size_t ctlen;
  uint8_t *ct = enc_all(cek, &eo, NULL, pt, sizeof pt, SPLIT_ONE, 0, &ctlen);
  uint8_t *out = malloc(ctlen);
  escrow_decryptor *d = NULL;
  size_t w = 7;
  assert_int_equal(escrow_decryptor_new(&d, cek, NULL), 0);
  assert_null(escrow_decryptor_header(d));
  /* Header only: nothing released, header now verified. */
  assert_int_equal(escrow_decryptor_update(d, out, 78, &w, ct, 78), 0);
  assert_int_equal(w, 0);
  assert_non_null(escrow_decryptor_header(d));
  assert_int_equal(escrow_header_log2cs(escrow_decryptor_header(d)), 14);
  size_t rest = ctlen - 78;
  size_t bound = escrow_decryptor_update_bound(d, rest);
  assert_int_equal(bound, CS14);
  assert_int_equal(escrow_decryptor_update(d, out, bound - 1, &w, ct + 78, rest),
                   ESCROW_E_BUFSIZE);
  assert_int_equal(escrow_decryptor_update(d, out, ctlen, &w, ct + 78, rest), ESCROW_E_STATE);
  escrow_decryptor_free(d);

  assert_int_equal(escrow_decryptor_new(&d, cek, NULL), 0);
  assert_int_equal(escrow_decryptor_update(d, out, ctlen, &w, ct, ctlen), 0);
  assert_int_equal(w, CS14);
  assert_int_equal(escrow_decryptor_final_bound(d), 5);
  assert_int_equal(escrow_decryptor_final(d, out + w, 5, &w), 0);
  assert_int_equal(w, 5);
  assert_memory_equal(out, pt, sizeof pt);
  assert_int_equal(escrow_decryptor_final(d, out, ctlen, &w), ESCROW_E_STATE);
  assert_int_equal(escrow_decryptor_update(d, out, ctlen, &w, ct, 1), ESCROW_E_STATE);
  escrow_decryptor_free(d);
  escrow_decryptor_free(NULL);

  escrow_decrypt_options bad = ESCROW_DECRYPT_OPTIONS_INIT;
  bad.version = 0;
  assert_int_equal(escrow_decryptor_new(&d, cek, &bad), ESCROW_E_INVALID);
  assert_null(d);
  free(out);
  free(ct);
  escrow_cek_free(cek);
}

/* ---- headers ------------------------------------------------------------------------------------ */

static void test_header_parse_reports_what_it_needs_and_exposes_fields(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  o.context.project_id = "p1";
  o.context.role = "ao";
  o.context.asset = "alg@v2";
  o.context.path = "src/model.py";
  o.context.key_id = "v7";
  size_t ctlen;
  uint8_t *ct = enc_all(cek, &o, NULL, (const uint8_t *)"hi", 2, SPLIT_ONE, 0, &ctlen);
  size_t hlen = 78 + 5 * 3 + 2 + 2 + 6 + 12 + 2;
  escrow_header *h = (escrow_header *)1;
  size_t need = 0;
  assert_int_equal(escrow_header_parse(&h, ct, 0, &need), ESCROW_E_TRUNCATED);
  assert_null(h);
  assert_int_equal(need, 46);
  assert_int_equal(escrow_header_parse(&h, ct, 45, &need), ESCROW_E_TRUNCATED);
  assert_int_equal(need, 46);
  assert_int_equal(escrow_header_parse(&h, ct, 46, &need), ESCROW_E_TRUNCATED);
  assert_int_equal(need, hlen);
  assert_int_equal(escrow_header_parse(&h, ct, hlen - 1, &need), ESCROW_E_TRUNCATED);
  assert_int_equal(escrow_header_parse(&h, ct, hlen, &need), 0);
  assert_int_equal(escrow_header_length(h), hlen);
  assert_int_equal(escrow_header_log2cs(h), 16);
  assert_memory_equal(escrow_header_salt(h), ct + 12, 32);
  assert_memory_equal(escrow_header_hdrtag(h), ct + hlen - 32, 32);
  assert_string_equal(escrow_header_context(h, 1), "p1");
  assert_string_equal(escrow_header_context(h, 2), "ao");
  assert_string_equal(escrow_header_context(h, 3), "alg@v2");
  assert_string_equal(escrow_header_context(h, 4), "src/model.py");
  assert_string_equal(escrow_header_context(h, 5), "v7");
  assert_null(escrow_header_context(h, 0));
  assert_null(escrow_header_context(h, 6));
  assert_null(escrow_header_context(h, 0x80));
  assert_null(escrow_header_context(h, 1000));
  assert_int_equal(escrow_header_verify(h, cek), 0);
  uint8_t other[32];
  memset(other, 0x42, sizeof other);
  escrow_cek *wrong = bv_cek(other);
  assert_int_equal(escrow_header_verify(h, wrong), ESCROW_E_AUTH);
  escrow_header_free(h);
  escrow_header_free(NULL);
  /* A bad magic is seen from the first byte, without waiting for the rest. */
  assert_int_equal(escrow_header_parse(&h, (const uint8_t *)"\x88", 1, &need), ESCROW_E_FORMAT);
  assert_int_equal(escrow_header_parse(&h, (const uint8_t *)"Salted__xxxxxxxx", 16, &need),
                   ESCROW_E_FORMAT);
  assert_non_null(strstr(escrow_error_last(), "legacy v0"));
  /* Altering any byte of the header makes parse or verify fail. */
  for (size_t i = 0; i < hlen; i++) {
    for (int bit = 0; bit < 8; bit++) {
      ct[i] ^= (uint8_t)(1 << bit);
      int rc = escrow_header_parse(&h, ct, hlen + 18, NULL);
      if (rc == 0) {
        rc = escrow_header_verify(h, cek);
        escrow_header_free(h);
      }
      if (rc == 0)
        fail_msg("header byte %zu bit %d altered, still accepted", i, bit);
      ct[i] ^= (uint8_t)(1 << bit);
    }
  }
  escrow_cek_free(wrong);
  escrow_cek_free(cek);
  free(ct);
}

static void test_detect_format_tells_v1_v0_and_other(void **state) {
  (void)state;
  assert_int_equal(escrow_detect_format((const uint8_t *)"\x89" "BKENC\r\n\x01", 9),
                   ESCROW_FORMAT_V1);
  assert_int_equal(escrow_detect_format((const uint8_t *)"Salted__", 8), ESCROW_FORMAT_V0);
  assert_int_equal(escrow_detect_format((const uint8_t *)"\x89" "BKENC\r", 7),
                   ESCROW_FORMAT_UNKNOWN);
  assert_int_equal(escrow_detect_format((const uint8_t *)"\x89" "BKENC\n\n", 8),
                   ESCROW_FORMAT_UNKNOWN);
  assert_int_equal(escrow_detect_format((const uint8_t *)"PK\x03\x04xxxx", 8),
                   ESCROW_FORMAT_UNKNOWN);
  assert_int_equal(escrow_detect_format(NULL, 8), ESCROW_FORMAT_UNKNOWN);
}

/* ---- sizes ---------------------------------------------------------------------------------------- */

static void test_sizes_map_both_ways_even_past_4_gib(void **state) {
  (void)state;
  static const uint64_t pts[] = {0, 1, 16383, 16384, 16385, 65535, 65536, 65537,
                                 UINT64_C(0xFFFFFFFF), UINT64_C(0x100000000),
                                 UINT64_C(0x100000001), UINT64_C(5) << 30,
                                 (UINT64_C(5) << 30) + 3, (UINT64_C(1) << 40) - 1};
  for (unsigned l = 14; l <= 24; l += 2) {
    for (size_t i = 0; i < ESCROW__ARRAY_LEN(pts); i++) {
      for (size_t hl = 78; hl <= 78 + 4096; hl += 4096) {
        uint64_t fs = escrow_bkenc_ciphertext_size(pts[i], l, hl);
        uint64_t cs = UINT64_C(1) << l;
        uint64_t n = pts[i] == 0 ? 1 : (pts[i] + cs - 1) / cs;
        assert_true(fs == hl + pts[i] + 16 * n);
        uint64_t back = 0;
        assert_int_equal(escrow_bkenc_plaintext_size(&back, fs, l, hl), 0);
        assert_true(back == pts[i]);
        /* One byte short of a valid size, the chunk layout no longer fits (unless the
         * last chunk had room to lose a byte: then a smaller plaintext explains it). */
        uint64_t b2 = 0;
        int rc = escrow_bkenc_plaintext_size(&b2, fs - 1, l, hl);
        if (pts[i] % cs == 1 && pts[i] > 1)
          assert_int_equal(rc, ESCROW_E_FORMAT); /* final chunk would be empty */
        else if (pts[i] == 0)
          assert_int_equal(rc, ESCROW_E_FORMAT);
        else if (rc == 0)
          assert_true(b2 == pts[i] - 1);
      }
    }
  }
  /* The largest file: 2^32 chunks; one more byte is impossible. */
  uint64_t maxpt = ESCROW_BKENC_MAX_CHUNKS << 16;
  uint64_t fs = escrow_bkenc_ciphertext_size(maxpt, 16, 78);
  assert_true(fs == 78 + maxpt + 16 * ESCROW_BKENC_MAX_CHUNKS);
  assert_true(escrow_bkenc_ciphertext_size(maxpt + 1, 16, 78) == UINT64_MAX);
  uint64_t back;
  assert_int_equal(escrow_bkenc_plaintext_size(&back, fs, 16, 78), 0);
  assert_true(back == maxpt);
  assert_int_equal(escrow_bkenc_plaintext_size(&back, fs + 17, 16, 78), ESCROW_E_FORMAT);
  /* Sizes no plaintext gives. */
  assert_int_equal(escrow_bkenc_plaintext_size(&back, 78 + 15, 14, 78), ESCROW_E_FORMAT);
  assert_int_equal(escrow_bkenc_plaintext_size(&back, 78 + CTS14 + 15, 14, 78), ESCROW_E_FORMAT);
  assert_int_equal(escrow_bkenc_plaintext_size(&back, 78 + CTS14 + 16, 14, 78), ESCROW_E_FORMAT);
  assert_int_equal(escrow_bkenc_plaintext_size(&back, 77, 14, 78), ESCROW_E_FORMAT);
  assert_int_equal(escrow_bkenc_plaintext_size(&back, 1000, 13, 78), ESCROW_E_INVALID);
  assert_true(escrow_bkenc_ciphertext_size(1, 25, 78) == UINT64_MAX);
  assert_int_equal(escrow_bkenc_plaintext_size(&back, 78 + 16, 14, 78), 0);
  assert_true(back == 0);
}

/* ---- chunk count limit ---------------------------------------------------------------------------- */

static void test_chunk_count_is_capped_at_2_pow_32(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  o.log2cs = 14;
  uint8_t in[CS14 + 1], out[2 * CTS14 + 200];
  tu_fill(in, sizeof in, 5);
  size_t w = 0, w2 = 0;
  /* Chunk 2^32-1 may only be the final chunk. */
  escrow_encryptor *e = NULL;
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), 0);
  escrow__encryptor_test_set_index(e, ESCROW_BKENC_MAX_CHUNKS - 1);
  assert_int_equal(escrow_encryptor_update(e, out, sizeof out, &w, in, CS14 + 1), ESCROW_E_LIMIT);
  escrow_encryptor_free(e);
  /* Chunks 2^32-2 and 2^32-1 (final) are fine, and decrypt. */
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), 0);
  escrow__encryptor_test_set_index(e, ESCROW_BKENC_MAX_CHUNKS - 2);
  assert_int_equal(escrow_encryptor_update(e, out, sizeof out, &w, in, CS14 + 1), 0);
  assert_int_equal(escrow_encryptor_final(e, out + w, sizeof out - w, &w2), 0);
  escrow_encryptor_free(e);
  size_t total = w + w2;
  uint8_t pt[2 * CS14];
  escrow_decryptor *d = NULL;
  assert_int_equal(escrow_decryptor_new(&d, cek, NULL), 0);
  assert_int_equal(escrow_decryptor_update(d, pt, sizeof pt, &w, out, 78), 0);
  escrow__decryptor_test_set_index(d, ESCROW_BKENC_MAX_CHUNKS - 2);
  assert_int_equal(escrow_decryptor_update(d, pt, sizeof pt, &w, out + 78, total - 78), 0);
  assert_int_equal(w, CS14);
  assert_int_equal(escrow_decryptor_final(d, pt + w, sizeof pt - w, &w2), 0);
  assert_int_equal(w2, 1);
  assert_memory_equal(pt, in, CS14 + 1);
  escrow_decryptor_free(d);
  /* A decryptor at chunk 2^32-1 refuses a full chunk followed by more data. */
  assert_int_equal(escrow_decryptor_new(&d, cek, NULL), 0);
  assert_int_equal(escrow_decryptor_update(d, pt, sizeof pt, &w, out, 78), 0);
  escrow__decryptor_test_set_index(d, ESCROW_BKENC_MAX_CHUNKS - 1);
  assert_int_equal(escrow_decryptor_update(d, pt, sizeof pt, &w, out + 78, total - 78),
                   ESCROW_E_LIMIT);
  assert_non_null(strstr(escrow_error_last(), "2^32"));
  escrow_decryptor_free(d);
  escrow_cek_free(cek);
}

/* ---- tampering ---------------------------------------------------------------------------------- */

static void flip_all(const escrow_cek *cek, uint8_t *ct, size_t ctlen, size_t step) {
  for (size_t i = 0; i < ctlen; i += (i < 200 || ctlen - i < 200) ? 1 : step) {
    uint8_t bit = (uint8_t)(1u << (i % 8));
    ct[i] ^= bit;
    for (int mode = SPLIT_ONE; mode <= SPLIT_RANDOM; mode += 2) {
      dec_result r = dec_all(cek, NULL, ct, ctlen, mode, (unsigned)i);
      if (r.rc == 0)
        fail_msg("byte %zu altered: decryption succeeded", i);
      /* Altering the last chunk may only fail after verified chunks were released;
       * nothing beyond them may be there. */
      check_no_leak(&r);
      free(r.out);
    }
    ct[i] ^= bit;
  }
}

static void test_any_altered_byte_fails_and_releases_nothing_unverified(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  o.log2cs = 14;
  o.context.path = "x/y.bin";
  o.context.role = "ds";
  uint8_t pt[2 * CS14 + 50];
  tu_fill(pt, sizeof pt, 77);
  size_t ctlen;
  /* A small one-chunk file: every byte. */
  uint8_t *ct = enc_all(cek, &o, NULL, pt, 100, SPLIT_ONE, 0, &ctlen);
  flip_all(cek, ct, ctlen, 1);
  free(ct);
  /* A three-chunk file: every byte of the header and around each chunk edge, then a sample. */
  ct = enc_all(cek, &o, NULL, pt, sizeof pt, SPLIT_ONE, 0, &ctlen);
  flip_all(cek, ct, ctlen, 509);
  size_t hl = 78 + 6 + 2 + 7;
  for (size_t edge = hl + CTS14 - 20; edge < hl + CTS14 + 20; edge++) {
    ct[edge] ^= 0x80;
    dec_result r = dec_all(cek, NULL, ct, ctlen, SPLIT_ONE, 0);
    assert_int_equal(r.rc, ESCROW_E_AUTH);
    check_no_leak(&r);
    free(r.out);
    ct[edge] ^= 0x80;
  }
  /* Truncation at every length fails. */
  for (size_t cut = 0; cut < ctlen; cut += (cut < 120 ? 1 : 97)) {
    dec_result r = dec_all(cek, NULL, ct, cut, SPLIT_ONE, 0);
    if (r.rc == 0)
      fail_msg("truncated to %zu bytes: accepted", cut);
    check_no_leak(&r);
    free(r.out);
  }
  free(ct);
  escrow_cek_free(cek);
}

/* ---- allocation failures ---------------------------------------------------------------------- */

typedef struct af_ctx {
  escrow_cek *cek;
  uint8_t pt[CS14 * 2 + 3];
  uint8_t ct[CTS14 * 3 + 200];
  size_t ctlen;
  uint8_t out[CTS14 * 3 + 200];
} af_ctx;

static int af_encrypt(void *p) {
  af_ctx *c = p;
  escrow_encryptor *e = NULL;
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  o.log2cs = 14;
  o.context.path = "p/q";
  int rc = escrow_encryptor_new(&e, c->cek, &o);
  size_t w = 0, w2 = 0;
  if (rc == 0)
    rc = escrow_encryptor_update(e, c->out, sizeof c->out, &w, c->pt, sizeof c->pt);
  if (rc == 0)
    rc = escrow_encryptor_final(e, c->out + w, sizeof c->out - w, &w2);
  escrow_encryptor_free(e);
  return rc;
}

static int af_decrypt(void *p) {
  af_ctx *c = p;
  escrow_decryptor *d = NULL;
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  o.expect_path = "p/q";
  int rc = escrow_decryptor_new(&d, c->cek, &o);
  size_t w = 0, w2 = 0;
  if (rc == 0)
    rc = escrow_decryptor_update(d, c->out, sizeof c->out, &w, c->ct, c->ctlen);
  if (rc == 0)
    rc = escrow_decryptor_final(d, c->out + w, sizeof c->out - w, &w2);
  if (rc == 0 && (w + w2 != sizeof c->pt || memcmp(c->out, c->pt, sizeof c->pt) != 0))
    rc = ESCROW_E_INVALID;
  escrow_decryptor_free(d);
  return rc;
}

static int af_header(void *p) {
  af_ctx *c = p;
  escrow_header *h = NULL;
  int rc = escrow_header_parse(&h, c->ct, c->ctlen, NULL);
  if (rc == 0)
    rc = escrow_header_verify(h, c->cek);
  escrow_header_free(h);
  return rc;
}

static void test_allocation_failures_are_reported_cleanly(void **state) {
  (void)state;
  af_ctx *c = calloc(1, sizeof *c);
  c->cek = tu_cek();
  tu_fill(c->pt, sizeof c->pt, 4);
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  o.log2cs = 14;
  o.context.path = "p/q";
  uint8_t *ct = enc_all(c->cek, &o, NULL, c->pt, sizeof c->pt, SPLIT_ONE, 0, &c->ctlen);
  memcpy(c->ct, ct, c->ctlen);
  free(ct);
  assert_true(tu_alloc_failures(af_encrypt, NULL, c, 0) >= 2);
  assert_true(tu_alloc_failures(af_decrypt, NULL, c, 0) >= 3);
  assert_true(tu_alloc_failures(af_header, NULL, c, 0) >= 1);
  escrow_cek_free(c->cek);
  free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors_decrypt_as_the_manifest_says),
      cmocka_unit_test(test_canonical_vectors_are_reproduced_byte_for_byte),
      cmocka_unit_test(test_each_failure_has_its_own_message),
      cmocka_unit_test(test_roundtrip_every_split),
      cmocka_unit_test(test_default_chunk_size_is_64k_and_files_differ_each_time),
      cmocka_unit_test(test_encryptor_refuses_bad_options),
      cmocka_unit_test(test_encryptor_bufsize_consumes_nothing_and_kills),
      cmocka_unit_test(test_decryptor_bufsize_states_and_header),
      cmocka_unit_test(test_header_parse_reports_what_it_needs_and_exposes_fields),
      cmocka_unit_test(test_detect_format_tells_v1_v0_and_other),
      cmocka_unit_test(test_sizes_map_both_ways_even_past_4_gib),
      cmocka_unit_test(test_chunk_count_is_capped_at_2_pow_32),
      cmocka_unit_test(test_any_altered_byte_fails_and_releases_nothing_unverified),
      cmocka_unit_test(test_allocation_failures_are_reported_cleanly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
