/* BKENC v1 random access (escrow_reader_*): verified reads at any offset, truncation refused
 * up front, nothing unverified handed out. */
#include "bkenc_vectors.h"

#define CS14 ((size_t)1 << 14)
#define CTS14 (CS14 + ESCROW_BKENC_CHUNK_TAG_BYTES)

typedef struct mem_src {
  const uint8_t *data;
  size_t len;
  int fail_at_call; /* 0 = never; n = the n-th read_at call fails with ESCROW_E_IO */
  int calls;
} mem_src;

static int mem_read_at(void *payload, uint64_t off, uint8_t *buf, size_t len, size_t *got) {
  mem_src *m = payload;
  m->calls++;
  if (m->fail_at_call != 0 && m->calls == m->fail_at_call)
    return escrow__err(ESCROW_E_IO, "injected read failure");
  if (off >= m->len) {
    *got = 0;
    return 0;
  }
  size_t n = m->len - (size_t)off < len ? m->len - (size_t)off : len;
  memcpy(buf, m->data + off, n);
  *got = n;
  return 0;
}

static uint8_t *encrypt_mem(const escrow_cek *cek, const uint8_t *pt, size_t len,
                            const char *path, size_t *ctlen) {
  escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
  o.log2cs = 14;
  o.context.path = path;
  escrow_encryptor *e = NULL;
  assert_int_equal(escrow_encryptor_new(&e, cek, &o), 0);
  const escrow_header *h = escrow_encryptor_header(e);
  size_t total = (size_t)escrow_bkenc_ciphertext_size(len, 14, escrow_header_length(h));
  uint8_t *ct = malloc(total);
  size_t w = 0, w2 = 0;
  assert_int_equal(escrow_encryptor_update(e, ct, total, &w, pt, len), 0);
  assert_int_equal(escrow_encryptor_final(e, ct + w, total - w, &w2), 0);
  assert_int_equal(w + w2, total);
  escrow_encryptor_free(e);
  *ctlen = total;
  return ct;
}

static void test_vectors_through_the_reader(void **state) {
  (void)state;
  bv_set s = bv_load();
  for (size_t i = 0; i < s.n; i++) {
    bv_vector *v = &s.v[i];
    size_t len;
    uint8_t *data = bv_read(v, &len);
    escrow_cek *cek = bv_cek(v->cek);
    escrow_decrypt_options o = bv_opts(v);
    mem_src m = {data, len, 0, 0};
    escrow_reader *r = NULL;
    int rc = escrow_reader_open(&r, cek, mem_read_at, &m, len, &o);
    if (v->expect == 0) {
      if (rc != 0)
        fail_msg("%s: reader open failed: %s", v->name, escrow_error_last());
      assert_true(escrow_reader_size(r) == v->pt_size);
      uint8_t *pt = malloc(v->pt_size + 1);
      size_t got = 0, done = 0;
      /* Odd-sized reads cross every chunk edge. */
      while (done < v->pt_size) {
        assert_int_equal(escrow_reader_pread(r, pt + done, 1000, done, &got), 0);
        assert_true(got > 0);
        done += got;
      }
      char hex[65];
      bv_sha256_hex(hex, pt, v->pt_size);
      if (strcmp(hex, v->sha256) != 0)
        fail_msg("%s: reader plaintext differs", v->name);
      free(pt);
      escrow_reader_free(r);
    } else if (rc == 0) {
      /* A bad file: refused at open, or (an altered middle chunk) when that chunk is read. */
      uint64_t size = escrow_reader_size(r);
      uint8_t *pt = malloc(size + 1);
      memset(pt, 0xAA, size + 1);
      size_t got = 99;
      rc = escrow_reader_pread(r, pt, size, 0, &got);
      if (rc == 0)
        fail_msg("%s: reader accepted a bad file", v->name);
      assert_int_equal(got, 0);
      assert_true(bv_untouched(pt, size));
      /* An altered chunk, or a final chunk that is not the last one. */
      if (rc == ESCROW_E_FORMAT)
        assert_non_null(strstr(escrow_error_last(), "marked final but is not the last"));
      else
        assert_int_equal(rc, ESCROW_E_AUTH);
      if (strncmp(v->name, "two_final_chunks", 16) == 0)
        assert_int_equal(rc, ESCROW_E_FORMAT);
      free(pt);
      escrow_reader_free(r);
    } else {
      assert_null(r);
      /* Where the stream decryptor and the reader can see the same thing, they agree. */
      if (v->expect != ESCROW_E_AUTH && v->expect != ESCROW_E_TRUNCATED &&
          v->expect != ESCROW_E_FORMAT)
        if (rc != v->expect)
          fail_msg("%s: reader says %s, expected %s", v->name, bv_code_name(rc),
                   bv_code_name(v->expect));
    }
    escrow_cek_free(cek);
    free(data);
  }
  bv_free(&s);
}

static void test_reads_at_every_interesting_offset(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  const size_t size = 3 * CS14 + 123;
  uint8_t *pt = malloc(size);
  tu_fill(pt, size, 21);
  size_t ctlen;
  uint8_t *ct = encrypt_mem(cek, pt, size, "f.bin", &ctlen);
  mem_src m = {ct, ctlen, 0, 0};
  escrow_reader *r = NULL;
  assert_int_equal(escrow_reader_open(&r, cek, mem_read_at, &m, ctlen, NULL), 0);
  assert_true(escrow_reader_size(r) == size);
  assert_string_equal(escrow_header_context(escrow_reader_header(r), 4), "f.bin");
  const uint64_t offs[] = {0, 1, CS14 - 1, CS14, CS14 + 1, 2 * CS14 - 1, 2 * CS14,
                           2 * CS14 + 1, 3 * CS14 - 1, 3 * CS14, 3 * CS14 + 1, size - 1,
                           size, size + 1, UINT64_MAX};
  const size_t lens[] = {0, 1, 2, 17, CS14 - 1, CS14, CS14 + 1, 2 * CS14 + 5, size + 10};
  uint8_t *buf = malloc(size + 20);
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(offs); i++) {
    for (size_t j = 0; j < ESCROW__ARRAY_LEN(lens); j++) {
      size_t got = 999;
      assert_int_equal(escrow_reader_pread(r, buf, lens[j], offs[i], &got), 0);
      size_t expect = offs[i] >= size ? 0 : (size - offs[i] < lens[j] ? size - offs[i] : lens[j]);
      assert_int_equal(got, expect);
      if (got > 0)
        assert_memory_equal(buf, pt + offs[i], got);
    }
  }
  escrow_reader_free(r);
  free(buf);
  free(ct);
  free(pt);
  escrow_cek_free(cek);
}

static void test_truncated_or_extended_file_is_refused_up_front(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  const size_t size = 2 * CS14 + 10;
  uint8_t *pt = malloc(size);
  tu_fill(pt, size, 2);
  size_t ctlen;
  uint8_t *ct = encrypt_mem(cek, pt, size, NULL, &ctlen);
  uint8_t *big = calloc(1, ctlen + CTS14 + 100);
  memcpy(big, ct, ctlen);
  for (size_t cut = 0; cut < ctlen; cut += (cut < 100 ? 1 : 61)) {
    mem_src m = {ct, cut, 0, 0};
    escrow_reader *r = (escrow_reader *)1;
    int rc = escrow_reader_open(&r, cek, mem_read_at, &m, cut, NULL);
    if (rc == 0)
      fail_msg("truncated to %zu of %zu bytes: opened", cut, ctlen);
    assert_null(r);
  }
  /* Cut exactly at a chunk boundary: the last whole chunk is not final. */
  mem_src m = {ct, 78 + 2 * CTS14, 0, 0};
  escrow_reader *r = NULL;
  assert_int_equal(escrow_reader_open(&r, cek, mem_read_at, &m, m.len, NULL), ESCROW_E_TRUNCATED);
  assert_non_null(strstr(escrow_error_last(), "missing final chunk"));
  /* Extended by garbage: refused. */
  for (size_t extra = 1; extra < CTS14 + 100; extra += (extra < 40 ? 1 : 1001)) {
    mem_src mb = {big, ctlen + extra, 0, 0};
    assert_int_not_equal(escrow_reader_open(&r, cek, mem_read_at, &mb, mb.len, NULL), 0);
  }
  /* A file whose final chunk is full, then garbage: "data after the final chunk". */
  size_t ct2len;
  uint8_t *ct2 = encrypt_mem(cek, pt, CS14, NULL, &ct2len);
  uint8_t *ext = calloc(1, ct2len + 5);
  memcpy(ext, ct2, ct2len);
  mem_src me = {ext, ct2len + 5, 0, 0};
  assert_int_equal(escrow_reader_open(&r, cek, mem_read_at, &me, me.len, NULL), ESCROW_E_FORMAT);
  assert_non_null(strstr(escrow_error_last(), "data after the final chunk"));
  /* The read source lies about the size: reading past its end is a truncation. */
  mem_src ml = {ct, ctlen - 1, 0, 0};
  assert_int_equal(escrow_reader_open(&r, cek, mem_read_at, &ml, ctlen, NULL), ESCROW_E_TRUNCATED);
  free(ext);
  free(ct2);
  free(big);
  free(ct);
  free(pt);
  escrow_cek_free(cek);
}

static void test_altered_middle_chunk_fails_that_read_and_leaks_nothing(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  const size_t size = 3 * CS14 + 10;
  uint8_t *pt = malloc(size);
  tu_fill(pt, size, 8);
  size_t ctlen;
  uint8_t *ct = encrypt_mem(cek, pt, size, NULL, &ctlen);
  ct[78 + CTS14 + 100] ^= 1; /* chunk 1 */
  mem_src m = {ct, ctlen, 0, 0};
  escrow_reader *r = NULL;
  assert_int_equal(escrow_reader_open(&r, cek, mem_read_at, &m, ctlen, NULL), 0);
  uint8_t *buf = malloc(size);
  size_t got = 1;
  /* Chunk 0 is fine. */
  assert_int_equal(escrow_reader_pread(r, buf, CS14, 0, &got), 0);
  assert_memory_equal(buf, pt, CS14);
  /* A read spanning chunks 0..2 fails at chunk 1; chunk 0's bytes it copied are wiped too. */
  memset(buf, 0xAA, size);
  assert_int_equal(escrow_reader_pread(r, buf, size, 0, &got), ESCROW_E_AUTH);
  assert_int_equal(got, 0);
  assert_non_null(strstr(escrow_error_last(), "chunk 1 failed authentication"));
  assert_true(bv_untouched(buf, size));
  /* Dead afterwards. */
  assert_int_equal(escrow_reader_pread(r, buf, 1, 0, &got), ESCROW_E_STATE);
  escrow_reader_free(r);
  /* A partial read of the bad chunk (through the internal buffer) fails the same way. */
  assert_int_equal(escrow_reader_open(&r, cek, mem_read_at, &m, ctlen, NULL), 0);
  memset(buf, 0xAA, size);
  assert_int_equal(escrow_reader_pread(r, buf, 10, CS14 + 5, &got), ESCROW_E_AUTH);
  assert_true(bv_untouched(buf, 10));
  escrow_reader_free(r);
  free(buf);
  free(ct);
  free(pt);
  escrow_cek_free(cek);
}

static void test_open_file_and_expectations(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  char *dir = tu_tmpdir("reader");
  char *path = escrow__path_join(dir, "x.bkenc");
  uint8_t pt[5000];
  tu_fill(pt, sizeof pt, 1);
  size_t ctlen;
  uint8_t *ct = encrypt_mem(cek, pt, sizeof pt, "data/x.csv", &ctlen);
  tu_write(path, ct, ctlen);
  escrow_reader *r = NULL;
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  o.expect_path = "data/x.csv";
  o.expect_hdrtag = ct + ctlen - 5000 - 16 - 32;
  assert_int_equal(escrow_reader_open_file(&r, cek, path, &o), 0);
  uint8_t buf[5000];
  size_t got;
  assert_int_equal(escrow_reader_pread(r, buf, sizeof buf, 0, &got), 0);
  assert_int_equal(got, sizeof buf);
  assert_memory_equal(buf, pt, sizeof pt);
  escrow_reader_free(r);
  o.expect_path = "data/y.csv";
  assert_int_equal(escrow_reader_open_file(&r, cek, path, &o), ESCROW_E_MISMATCH);
  assert_null(r);
  o.expect_path = NULL;
  uint8_t tag[32];
  memset(tag, 0, sizeof tag);
  o.expect_hdrtag = tag;
  assert_int_equal(escrow_reader_open_file(&r, cek, path, &o), ESCROW_E_MISMATCH);
  uint8_t wrong[32];
  memset(wrong, 7, sizeof wrong);
  escrow_cek *wcek = bv_cek(wrong);
  assert_int_equal(escrow_reader_open_file(&r, wcek, path, NULL), ESCROW_E_AUTH);
  escrow_cek_free(wcek);
  char *missing = escrow__path_join(dir, "nope.bkenc");
  assert_int_equal(escrow_reader_open_file(&r, cek, missing, NULL), ESCROW_E_NOTFOUND);
  assert_int_equal(escrow_reader_open_file(&r, cek, dir, NULL), ESCROW_E_IO);
  assert_int_equal(escrow_reader_open(&r, cek, NULL, NULL, 0, NULL), ESCROW_E_INVALID);
  escrow_reader_free(NULL);
  escrow__free(missing);
  escrow__free(path);
  escrow__rmtree(dir);
  free(dir);
  free(ct);
  escrow_cek_free(cek);
}

static void test_read_errors_are_passed_on(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  uint8_t pt[3 * CS14];
  tu_fill(pt, sizeof pt, 6);
  size_t ctlen;
  uint8_t *ct = encrypt_mem(cek, pt, sizeof pt, NULL, &ctlen);
  for (int k = 1; k <= 2; k++) {
    mem_src m = {ct, ctlen, k, 0};
    escrow_reader *r = NULL;
    assert_int_equal(escrow_reader_open(&r, cek, mem_read_at, &m, ctlen, NULL), ESCROW_E_IO);
  }
  mem_src m = {ct, ctlen, 3, 0};
  escrow_reader *r = NULL;
  assert_int_equal(escrow_reader_open(&r, cek, mem_read_at, &m, ctlen, NULL), 0);
  uint8_t buf[100];
  size_t got;
  assert_int_equal(escrow_reader_pread(r, buf, sizeof buf, 0, &got), ESCROW_E_IO);
  escrow_reader_free(r);
  free(ct);
  escrow_cek_free(cek);
}

/* A virtual 5 GiB BKENC file whose chunks are sealed on demand: random access past 4 GiB
 * without a real big file. Chunk i's plaintext is tu_fill(seed = i). */
typedef struct vfile {
  uint8_t hdr[ESCROW_BKENC_HEADER_MIN];
  EVP_CIPHER_CTX *enc;
  uint64_t pt_size, nchunks;
  uint8_t pt[65536], ct[65536 + 16];
  int reads;
} vfile;

static size_t vchunk_len(const vfile *v, uint64_t i) {
  return i == v->nchunks - 1 ? (size_t)(v->pt_size - (i << 16)) : 65536;
}

static int vfile_read_at(void *payload, uint64_t off, uint8_t *buf, size_t len, size_t *got) {
  vfile *v = payload;
  v->reads++;
  size_t done = 0;
  while (done < len) {
    uint64_t pos = off + done;
    if (pos < sizeof v->hdr) {
      size_t n = sizeof v->hdr - (size_t)pos;
      n = n < len - done ? n : len - done;
      memcpy(buf + done, v->hdr + pos, n);
      done += n;
      continue;
    }
    uint64_t i = (pos - sizeof v->hdr) / (65536 + 16);
    if (i >= v->nchunks)
      break;
    size_t within = (size_t)((pos - sizeof v->hdr) % (65536 + 16));
    size_t cl = vchunk_len(v, i);
    tu_fill(v->pt, cl, (uint32_t)i);
    assert_int_equal(escrow__bkenc_chunk_seal(v->enc, v->ct, v->pt, cl, i, i == v->nchunks - 1), 0);
    size_t n = cl + 16 - within;
    n = n < len - done ? n : len - done;
    memcpy(buf + done, v->ct + within, n);
    done += n;
  }
  *got = done;
  return 0;
}

static void test_offsets_past_4_gib_on_a_virtual_file(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  static vfile v;
  v.pt_size = (UINT64_C(5) << 30) + 12345;
  v.nchunks = (v.pt_size + 65535) >> 16;
  escrow_encryptor *e = NULL;
  uint8_t salt[32] = {1, 2, 3};
  assert_int_equal(escrow__encryptor_new_with_salt(&e, cek, NULL, salt), 0);
  assert_int_equal(escrow_header_length(escrow_encryptor_header(e)), sizeof v.hdr);
  memcpy(v.hdr, escrow__header_bytes(escrow_encryptor_header(e)), sizeof v.hdr);
  escrow_encryptor_free(e);
  uint8_t tag[32], kdata[32];
  assert_int_equal(escrow__bkenc_derive(cek->bytes, salt, v.hdr, 46, tag, kdata), 0);
  assert_memory_equal(tag, v.hdr + 46, 32);
  assert_int_equal(escrow__bkenc_cipher_new(&v.enc, kdata, 1), 0);
  uint64_t fsize = escrow_bkenc_ciphertext_size(v.pt_size, 16, sizeof v.hdr);
  escrow_reader *r = NULL;
  assert_int_equal(escrow_reader_open(&r, cek, vfile_read_at, &v, fsize, NULL), 0);
  assert_true(escrow_reader_size(r) == v.pt_size);
  const uint64_t offs[] = {0, (UINT64_C(1) << 32) - 7, UINT64_C(1) << 32,
                           (UINT64_C(1) << 32) + 65535, (UINT64_C(9) << 29) + 100,
                           v.pt_size - 12345 - 3, v.pt_size - 10};
  uint8_t buf[70000], want[70000], chunk[65536];
  for (size_t k = 0; k < ESCROW__ARRAY_LEN(offs); k++) {
    size_t got = 0;
    v.reads = 0;
    assert_int_equal(escrow_reader_pread(r, buf, sizeof buf, offs[k], &got), 0);
    size_t expect = v.pt_size - offs[k] < sizeof buf ? (size_t)(v.pt_size - offs[k]) : sizeof buf;
    if (got != expect)
      fail_msg("offset %llu: got %zu of %zu", (unsigned long long)offs[k], got, expect);
    assert_true(v.reads <= 3); /* one read per chunk touched */
    for (size_t d = 0; d < got;) {
      uint64_t p = offs[k] + d, i = p >> 16;
      size_t within = (size_t)(p & 0xFFFF), cl = vchunk_len(&v, i);
      tu_fill(chunk, cl, (uint32_t)i);
      size_t n = cl - within < got - d ? cl - within : got - d;
      memcpy(want + d, chunk + within, n);
      d += n;
    }
    assert_memory_equal(buf, want, got);
  }
  escrow_reader_free(r);
  EVP_CIPHER_CTX_free(v.enc);
  escrow_cek_free(cek);
}

typedef struct af_ctx {
  escrow_cek *cek;
  uint8_t *ct;
  size_t ctlen;
  const char *path;
} af_ctx;

static int af_open_read(void *p) {
  af_ctx *c = p;
  mem_src m = {c->ct, c->ctlen, 0, 0};
  escrow_reader *r = NULL;
  escrow_decrypt_options o = ESCROW_DECRYPT_OPTIONS_INIT;
  o.expect_path = "z";
  int rc = escrow_reader_open(&r, c->cek, mem_read_at, &m, c->ctlen, &o);
  uint8_t buf[64];
  size_t got;
  if (rc == 0)
    rc = escrow_reader_pread(r, buf, sizeof buf, CS14 - 10, &got);
  escrow_reader_free(r);
  return rc;
}

static int af_open_file(void *p) {
  af_ctx *c = p;
  escrow_reader *r = NULL;
  int rc = escrow_reader_open_file(&r, c->cek, c->path, NULL);
  escrow_reader_free(r);
  return rc;
}

static void test_allocation_failures_are_reported_cleanly(void **state) {
  (void)state;
  af_ctx c = {0};
  c.cek = tu_cek();
  uint8_t pt[2 * CS14];
  tu_fill(pt, sizeof pt, 3);
  c.ct = encrypt_mem(c.cek, pt, sizeof pt, "z", &c.ctlen);
  char *dir = tu_tmpdir("reader-af");
  char *path = escrow__path_join(dir, "z.bkenc");
  tu_write(path, c.ct, c.ctlen);
  c.path = path;
  assert_true(tu_alloc_failures(af_open_read, NULL, &c, 0) >= 3);
  assert_true(tu_alloc_failures(af_open_file, NULL, &c, 0) >= 4);
  escrow__free(path);
  escrow__rmtree(dir);
  free(dir);
  free(c.ct);
  escrow_cek_free(c.cek);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors_through_the_reader),
      cmocka_unit_test(test_reads_at_every_interesting_offset),
      cmocka_unit_test(test_truncated_or_extended_file_is_refused_up_front),
      cmocka_unit_test(test_altered_middle_chunk_fails_that_read_and_leaks_nothing),
      cmocka_unit_test(test_open_file_and_expectations),
      cmocka_unit_test(test_read_errors_are_passed_on),
      cmocka_unit_test(test_offsets_past_4_gib_on_a_virtual_file),
      cmocka_unit_test(test_allocation_failures_are_reported_cleanly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
