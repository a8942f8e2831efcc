/* BKENC file and descriptor adaptors: round trips, v0/v1 by magic, atomic outputs that leave
 * nothing behind on failure, plaintext files mode 0600. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bkenc_vectors.h"

#define CS14 ((size_t)1 << 14)

/* Number of entries in dir (tmp files included). */
static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      n++;
  closedir(d);
  return n;
}

typedef struct progress {
  uint64_t last_done, last_total;
  int calls;
} progress;

static void on_progress(void *p, uint64_t done, uint64_t total) {
  progress *pr = p;
  assert_true(done >= pr->last_done);
  pr->last_done = done;
  pr->last_total = total;
  pr->calls++;
}

static void test_file_roundtrip_v1_sizes_modes_and_hdrtag(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  char *dir = tu_tmpdir("fileio");
  char *in = escrow__path_join(dir, "in.bin"), *enc = escrow__path_join(dir, "in.bin.bkenc"),
       *dec = escrow__path_join(dir, "out.bin");
  static const size_t sizes[] = {0, 1, CS14, 65536, 65537, 256 * 1024, 600 * 1024 + 7};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(sizes); i++) {
    uint8_t *pt = malloc(sizes[i] + 1);
    tu_fill(pt, sizes[i], (uint32_t)i);
    tu_write(in, pt, sizes[i]);
    escrow_encrypt_options o = ESCROW_ENCRYPT_OPTIONS_INIT;
    o.log2cs = i % 2 ? 14 : 0;
    o.context.path = "in.bin";
    uint8_t tag[32];
    progress pr = {0};
    assert_int_equal(escrow_encrypt_file(cek, &o, ESCROW_FORMAT_V1, in, enc, tag, on_progress,
                                         &pr),
                     0);
    assert_true(pr.last_done == sizes[i]);
    if (sizes[i] > 0)
      assert_true(pr.last_total == sizes[i]);
    size_t ctlen;
    uint8_t *ct = tu_read(enc, &ctlen);
    escrow_header *h = NULL;
    assert_int_equal(escrow_header_parse(&h, ct, ctlen, NULL), 0);
    assert_memory_equal(escrow_header_hdrtag(h), tag, 32);
    assert_true(ctlen == escrow_bkenc_ciphertext_size(sizes[i], escrow_header_log2cs(h),
                                                      escrow_header_length(h)));
    escrow_header_free(h);
    escrow_decrypt_options d = ESCROW_DECRYPT_OPTIONS_INIT;
    d.expect_path = "in.bin";
    d.expect_hdrtag = tag;
    progress pd = {0};
    assert_int_equal(escrow_decrypt_file(cek, &d, enc, dec, on_progress, &pd), 0);
    assert_true(pd.last_done == ctlen);
    size_t outlen;
    uint8_t *out = tu_read(dec, &outlen);
    assert_int_equal(outlen, sizes[i]);
    assert_memory_equal(out, pt, sizes[i]);
    struct stat st;
    assert_int_equal(stat(dec, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(count_entries(dir), 3); /* no temporary files left */
    free(out);
    free(ct);
    free(pt);
  }
  escrow__free(in);
  escrow__free(enc);
  escrow__free(dec);
  escrow__rmtree(dir);
  free(dir);
  escrow_cek_free(cek);
}

static void test_failed_decrypt_leaves_no_output(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  char *dir = tu_tmpdir("fileio-fail");
  char *in = escrow__path_join(dir, "in.bin"), *enc = escrow__path_join(dir, "in.bkenc"),
       *dec = escrow__path_join(dir, "out.bin"), *old = escrow__path_join(dir, "old.bin");
  const size_t size = 700 * 1024;
  uint8_t *pt = malloc(size);
  tu_fill(pt, size, 5);
  tu_write(in, pt, size);
  assert_int_equal(escrow_encrypt_file(cek, NULL, ESCROW_FORMAT_V1, in, enc, NULL, NULL, NULL),
                   0);
  size_t ctlen;
  uint8_t *ct = tu_read(enc, &ctlen);
  int base = count_entries(dir);
  /* Altered last chunk: many verified chunks were written to the temporary file first. */
  ct[ctlen - 3] ^= 1;
  tu_write(enc, ct, ctlen);
  assert_int_equal(escrow_decrypt_file(cek, NULL, enc, dec, NULL, NULL), ESCROW_E_AUTH);
  assert_false(tu_exists(dec));
  assert_int_equal(count_entries(dir), base);
  /* Truncated: same. */
  ct[ctlen - 3] ^= 1;
  tu_write(enc, ct, ctlen - 20000);
  assert_int_equal(escrow_decrypt_file(cek, NULL, enc, dec, NULL, NULL), ESCROW_E_AUTH);
  assert_false(tu_exists(dec));
  tu_write(enc, ct, 78 + 65552);
  assert_int_equal(escrow_decrypt_file(cek, NULL, enc, dec, NULL, NULL), ESCROW_E_TRUNCATED);
  assert_false(tu_exists(dec));
  /* An existing output keeps its old content after a failure. */
  tu_write(old, "old", 3);
  assert_int_equal(escrow_decrypt_file(cek, NULL, enc, old, NULL, NULL), ESCROW_E_TRUNCATED);
  size_t l;
  uint8_t *o = tu_read(old, &l);
  assert_int_equal(l, 3);
  assert_memory_equal(o, "old", 3);
  free(o);
  /* Wrong expectations, unknown formats, short files. */
  tu_write(enc, ct, ctlen);
  escrow_decrypt_options d = ESCROW_DECRYPT_OPTIONS_INIT;
  d.expect_path = "elsewhere.bin";
  assert_int_equal(escrow_decrypt_file(cek, &d, enc, dec, NULL, NULL), ESCROW_E_MISMATCH);
  assert_false(tu_exists(dec));
  tu_write(enc, "PK\x03\x04 not encrypted", 19);
  assert_int_equal(escrow_decrypt_file(cek, NULL, enc, dec, NULL, NULL), ESCROW_E_FORMAT);
  tu_write(enc, "\x89" "BK", 3);
  assert_int_equal(escrow_decrypt_file(cek, NULL, enc, dec, NULL, NULL), ESCROW_E_TRUNCATED);
  assert_false(tu_exists(dec));
  char *missing = escrow__path_join(dir, "missing.bkenc");
  assert_int_equal(escrow_decrypt_file(cek, NULL, missing, dec, NULL, NULL), ESCROW_E_NOTFOUND);
  assert_int_equal(escrow_encrypt_file(cek, NULL, ESCROW_FORMAT_V1, missing, dec, NULL, NULL,
                                       NULL),
                   ESCROW_E_NOTFOUND);
  assert_int_equal(escrow_encrypt_file(cek, NULL, ESCROW_FORMAT_UNKNOWN, in, dec, NULL, NULL,
                                       NULL),
                   ESCROW_E_INVALID);
  assert_false(tu_exists(dec));
  assert_int_equal(count_entries(dir), base + 1); /* + old.bin */
  escrow__free(missing);
  free(ct);
  free(pt);
  escrow__free(in);
  escrow__free(enc);
  escrow__free(dec);
  escrow__free(old);
  escrow__rmtree(dir);
  free(dir);
  escrow_cek_free(cek);
}

static void test_v0_is_written_on_request_and_read_by_magic(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  char *dir = tu_tmpdir("fileio-v0");
  char *in = escrow__path_join(dir, "in.bin"), *enc = escrow__path_join(dir, "in.bkenc"),
       *enc2 = escrow__path_join(dir, "in2.bkenc"), *dec = escrow__path_join(dir, "out.bin");
  uint8_t pt[3000];
  tu_fill(pt, sizeof pt, 11);
  tu_write(in, pt, sizeof pt);
  uint8_t tag[32];
  memset(tag, 0x55, sizeof tag);
  assert_int_equal(escrow_encrypt_file(cek, NULL, ESCROW_FORMAT_V0, in, enc, tag, NULL, NULL), 0);
  assert_int_equal(escrow_encrypt_file(cek, NULL, ESCROW_FORMAT_V0, in, enc2, NULL, NULL, NULL),
                   0);
  size_t l1, l2;
  uint8_t *c1 = tu_read(enc, &l1), *c2 = tu_read(enc2, &l2);
  assert_int_equal(escrow_detect_format(c1, l1), ESCROW_FORMAT_V0);
  assert_int_equal(l1, sizeof pt + ESCROW_LEGACY_OVERHEAD);
  assert_memory_not_equal(c1 + 8, c2 + 8, 8); /* a fresh salt per file */
  uint8_t zero[32] = {0};
  assert_memory_equal(tag, zero, 32);
  assert_int_equal(escrow_decrypt_file(cek, NULL, enc, dec, NULL, NULL), 0);
  size_t ol;
  uint8_t *out = tu_read(dec, &ol);
  assert_int_equal(ol, sizeof pt);
  assert_memory_equal(out, pt, sizeof pt);
  free(out);
  /* v0 has no header tag: a pinned tag cannot match. */
  escrow_decrypt_options d = ESCROW_DECRYPT_OPTIONS_INIT;
  d.expect_hdrtag = zero;
  unlink(dec);
  assert_int_equal(escrow_decrypt_file(cek, &d, enc, dec, NULL, NULL), ESCROW_E_MISMATCH);
  assert_false(tu_exists(dec));
  /* An altered v0 file leaves nothing. */
  c1[100] ^= 1;
  tu_write(enc, c1, l1);
  assert_int_equal(escrow_decrypt_file(cek, NULL, enc, dec, NULL, NULL), ESCROW_E_AUTH);
  assert_false(tu_exists(dec));
  free(c1);
  free(c2);
  escrow__free(in);
  escrow__free(enc);
  escrow__free(enc2);
  escrow__free(dec);
  escrow__rmtree(dir);
  free(dir);
  escrow_cek_free(cek);
}

static void test_fd_adaptors_over_pipes(void **state) {
  (void)state;
  escrow_cek *cek = tu_cek();
  char *dir = tu_tmpdir("fileio-fd");
  char *enc = escrow__path_join(dir, "p.bkenc"), *dec = escrow__path_join(dir, "p.out");
  const size_t size = 200 * 1024 + 3;
  uint8_t *pt = malloc(size);
  tu_fill(pt, size, 12);
  /* Encrypt from a pipe (unknown size): the writer end is filled by a child. */
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    escrow__write_all(p[1], pt, size, NULL);
    /* The child's copies of the test's buffers (so valgrind sees no leak in it). */
    free(pt);
    escrow__free(enc);
    escrow__free(dec);
    free(dir);
    escrow_cek_free(cek);
    _exit(0);
  }
  close(p[1]);
  int out = open(enc, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  progress pr = {0};
  assert_int_equal(escrow_encrypt_fd(cek, NULL, p[0], out, NULL, on_progress, &pr), 0);
  assert_true(pr.last_done == size);
  assert_true(pr.last_total == 0);
  close(out);
  close(p[0]);
  int status;
  waitpid(pid, &status, 0);
  int in = open(enc, O_RDONLY);
  out = open(dec, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_int_equal(escrow_decrypt_fd(cek, NULL, in, out, NULL, NULL), 0);
  close(in);
  close(out);
  size_t l;
  uint8_t *got = tu_read(dec, &l);
  assert_int_equal(l, size);
  assert_memory_equal(got, pt, size);
  free(got);
  /* Write errors are reported. */
  in = open(enc, O_RDONLY);
  out = open(dec, O_RDONLY);
  assert_int_equal(escrow_decrypt_fd(cek, NULL, in, out, NULL, NULL), ESCROW_E_IO);
  close(in);
  close(out);
  assert_int_equal(escrow_encrypt_fd(cek, NULL, -1, 1, NULL, NULL, NULL), ESCROW_E_INVALID);
  assert_int_equal(escrow_decrypt_fd(cek, NULL, 0, -1, NULL, NULL), ESCROW_E_INVALID);
  free(pt);
  escrow__free(enc);
  escrow__free(dec);
  escrow__rmtree(dir);
  free(dir);
  escrow_cek_free(cek);
}

typedef struct af_ctx {
  escrow_cek *cek;
  char *dir, *in, *enc, *dec;
} af_ctx;

static int af_encrypt_file(void *p) {
  af_ctx *c = p;
  return escrow_encrypt_file(c->cek, NULL, ESCROW_FORMAT_V1, c->in, c->enc, NULL, NULL, NULL);
}

static int af_decrypt_file(void *p) {
  af_ctx *c = p;
  int rc = escrow_decrypt_file(c->cek, NULL, c->enc, c->dec, NULL, NULL);
  if (rc != 0 && tu_exists(c->dec))
    fail_msg("failed decryption left %s", c->dec);
  return rc;
}

static void af_cleanup(void *p) {
  af_ctx *c = p;
  if (count_entries(c->dir) != 2 + (tu_exists(c->dec) ? 1 : 0))
    fail_msg("temporary files left behind");
  unlink(c->dec);
}

static void test_allocation_failures_leave_nothing_behind(void **state) {
  (void)state;
  af_ctx c = {0};
  c.cek = tu_cek();
  c.dir = tu_tmpdir("fileio-af");
  c.in = escrow__path_join(c.dir, "a");
  c.enc = escrow__path_join(c.dir, "a.bkenc");
  c.dec = escrow__path_join(c.dir, "a.out");
  uint8_t pt[70000];
  tu_fill(pt, sizeof pt, 1);
  tu_write(c.in, pt, sizeof pt);
  assert_true(tu_alloc_failures(af_encrypt_file, NULL, &c, 0) >= 3);
  assert_true(tu_alloc_failures(af_decrypt_file, af_cleanup, &c, 0) >= 3);
  escrow__free(c.in);
  escrow__free(c.enc);
  escrow__free(c.dec);
  escrow__rmtree(c.dir);
  free(c.dir);
  escrow_cek_free(c.cek);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_file_roundtrip_v1_sizes_modes_and_hdrtag),
      cmocka_unit_test(test_failed_decrypt_leaves_no_output),
      cmocka_unit_test(test_v0_is_written_on_request_and_read_by_magic),
      cmocka_unit_test(test_fd_adaptors_over_pipes),
      cmocka_unit_test(test_allocation_failures_leave_nothing_behind),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
