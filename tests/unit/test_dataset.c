/* Dataset folders: every file encrypted on its own with its path in the header, the MAC'd
 * manifest, and decryption that detects missing, added, swapped and rolled-back files. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "package_internal.h"

static char *join(const char *a, const char *b) {
  char *p = escrow__path_join(a, b);
  assert_non_null(p);
  return p;
}

static void put(const char *dir, const char *rel, const char *text) {
  char *p = join(dir, rel);
  char *slash = strrchr(p, '/');
  *slash = '\0';
  assert_int_equal(escrow__mkdirs(p, 0700), 0);
  *slash = '/';
  tu_write(p, text, strlen(text));
  escrow__free(p);
}

static void copy_file(const char *from, const char *to) {
  size_t len;
  uint8_t *b = tu_read(from, &len);
  tu_write(to, b, len);
  free(b);
}

typedef struct ds {
  char *root, *plain, *enc, *out;
} ds;

/* A small dataset with nested and hidden files, encrypted with the fixture CEK. */
static ds make_dataset(const char *tag, escrow_file_format fmt) {
  ds d;
  d.root = tu_tmpdir(tag);
  d.plain = join(d.root, "plain");
  d.enc = join(d.root, "enc");
  d.out = join(d.root, "out");
  put(d.plain, "train.csv", "PLAINTEXT-ROW-1,1\nPLAINTEXT-ROW-2,0\n");
  put(d.plain, "img/a.png", "PLAINTEXT-IMAGE-A");
  put(d.plain, "img/b.png", "PLAINTEXT-IMAGE-B-which-is-longer");
  put(d.plain, ".hidden/notes.txt", "PLAINTEXT-HIDDEN");
  put(d.plain, "empty.bin", "");
  escrow_cek *cek = tu_cek();
  escrow_dataset_options o = ESCROW_DATASET_OPTIONS_INIT;
  o.format = fmt;
  o.dataset_version = "v1";
  o.context.project_id = "proj-1";
  o.context.role = "ds";
  int rc = escrow_dataset_encrypt(d.plain, d.enc, cek, &o);
  if (rc != 0)
    fail_msg("encrypt: %s", escrow_error_last());
  escrow_cek_free(cek);
  return d;
}

static void free_dataset(ds *d) {
  escrow__rmtree(d->root);
  free(d->root);
  escrow__free(d->plain);
  escrow__free(d->enc);
  escrow__free(d->out);
}

static int contains_plaintext(const char *dir) {
  DIR *dd = opendir(dir);
  if (dd == NULL)
    return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(dd)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char *p = join(dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
      n += contains_plaintext(p);
    } else {
      size_t len;
      uint8_t *b = tu_read(p, &len);
      for (size_t i = 0; i + 9 <= len; i++)
        if (memcmp(b + i, "PLAINTEXT", 9) == 0) {
          n++;
          break;
        }
      free(b);
    }
    escrow__free(p);
  }
  closedir(dd);
  return n;
}

static int decrypt(ds *d, const escrow_dataset_options *o) {
  escrow_cek *cek = tu_cek();
  int rc = escrow_dataset_decrypt(d->enc, d->out, cek, o);
  escrow_cek_free(cek);
  return rc;
}

static void expect_refused(ds *d, int code, const char *words) {
  int rc = decrypt(d, NULL);
  if (rc != code)
    fail_msg("decrypt: %d (%s), expected %d", rc, escrow_error_last(), code);
  if (words != NULL && strstr(escrow_error_last(), words) == NULL)
    fail_msg("message lacks '%s': %s", words, escrow_error_last());
  assert_false(tu_exists(d->out));
  assert_int_equal(contains_plaintext(d->root) - contains_plaintext(d->plain), 0);
}

static void test_v1_round_trip_includes_hidden_files_and_writes_a_manifest(void **st) {
  (void)st;
  ds d = make_dataset("dsrt", ESCROW_FORMAT_V1);
  assert_int_equal(contains_plaintext(d.enc), 0);
  char *m = join(d.enc, ESCROW_MANIFEST_FILE);
  assert_true(tu_exists(m));
  char *h = join(d.enc, ".hidden/notes.txt.bkenc");
  assert_true(tu_exists(h));
  /* the manifest lists every file with its plaintext size and header tag */
  size_t len;
  uint8_t *b = tu_read(m, &len);
  escrow_cek *cek = tu_cek();
  escrow_manifest *man = NULL;
  assert_int_equal(escrow_manifest_decode(&man, cek, b, len), 0);
  assert_int_equal(escrow_manifest_count(man), 5);
  assert_string_equal(escrow_manifest_dataset_version(man), "v1");
  size_t i;
  assert_int_equal(escrow_manifest_find(man, "img/b.png", &i), 0);
  uint64_t size;
  const uint8_t *tag;
  assert_int_equal(escrow_manifest_entry(man, i, NULL, &size, &tag), 0);
  assert_int_equal(size, strlen("PLAINTEXT-IMAGE-B-which-is-longer"));
  char *bp = join(d.enc, "img/b.png.bkenc");
  size_t bl;
  uint8_t *bb = tu_read(bp, &bl);
  escrow_header *hd = NULL;
  assert_int_equal(escrow_header_parse(&hd, bb, bl, NULL), 0);
  assert_memory_equal(escrow_header_hdrtag(hd), tag, 32);
  assert_string_equal(escrow_header_context(hd, 4), "img/b.png");
  assert_string_equal(escrow_header_context(hd, 1), "proj-1");
  escrow_header_free(hd);
  free(bb);
  escrow__free(bp);
  escrow_manifest_free(man);
  escrow_cek_free(cek);
  free(b);
  assert_int_equal(decrypt(&d, NULL), 0);
  char *p = join(d.out, ".hidden/notes.txt");
  uint8_t *t = tu_read(p, &len);
  assert_int_equal(len, strlen("PLAINTEXT-HIDDEN"));
  assert_memory_equal(t, "PLAINTEXT-HIDDEN", len);
  free(t);
  struct stat sb;
  assert_int_equal(stat(p, &sb), 0);
  assert_int_equal(sb.st_mode & 0077, 0); /* private files */
  escrow__free(p);
  p = join(d.out, "empty.bin");
  assert_int_equal(stat(p, &sb), 0);
  assert_int_equal(sb.st_size, 0);
  escrow__free(p);
  p = join(d.out, ESCROW_MANIFEST_PATH);
  assert_false(tu_exists(p)); /* the manifest is not output */
  escrow__free(p);
  escrow__free(h);
  escrow__free(m);
  free_dataset(&d);
}

static void test_missing_file_is_detected(void **st) {
  (void)st;
  ds d = make_dataset("dsmiss", ESCROW_FORMAT_V1);
  char *p = join(d.enc, "img/a.png.bkenc");
  assert_int_equal(unlink(p), 0);
  expect_refused(&d, ESCROW_E_MISMATCH, "missing");
  escrow__free(p);
  free_dataset(&d);
}

static void test_added_file_is_detected(void **st) {
  (void)st;
  ds d = make_dataset("dsadd", ESCROW_FORMAT_V1);
  char *a = join(d.enc, "img/a.png.bkenc");
  char *c = join(d.enc, "img/c.png.bkenc");
  copy_file(a, c);
  expect_refused(&d, ESCROW_E_MISMATCH, "added");
  escrow__free(a);
  escrow__free(c);
  free_dataset(&d);
}

static void test_swapped_files_are_detected(void **st) {
  (void)st;
  ds d = make_dataset("dsswap", ESCROW_FORMAT_V1);
  char *a = join(d.enc, "img/a.png.bkenc");
  char *b = join(d.enc, "img/b.png.bkenc");
  char *t = join(d.enc, "tmp");
  assert_int_equal(rename(a, t), 0);
  assert_int_equal(rename(b, a), 0);
  assert_int_equal(rename(t, b), 0);
  expect_refused(&d, ESCROW_E_MISMATCH, "swapped");
  escrow__free(a);
  escrow__free(b);
  escrow__free(t);
  free_dataset(&d);
}

static void test_rolled_back_file_is_detected(void **st) {
  (void)st;
  /* An older, valid encryption of the same path (same key) replaces the current one. */
  ds old = make_dataset("dsold", ESCROW_FORMAT_V1);
  ds d = make_dataset("dsnew", ESCROW_FORMAT_V1);
  char *from = join(old.enc, "train.csv.bkenc");
  char *to = join(d.enc, "train.csv.bkenc");
  copy_file(from, to);
  expect_refused(&d, ESCROW_E_MISMATCH, "rolled back");
  escrow__free(from);
  escrow__free(to);
  free_dataset(&old);
  free_dataset(&d);
}

static void test_truncated_file_is_detected(void **st) {
  (void)st;
  ds d = make_dataset("dstrunc", ESCROW_FORMAT_V1);
  char *p = join(d.enc, "train.csv.bkenc");
  size_t len;
  uint8_t *b = tu_read(p, &len);
  tu_write(p, b, len - 1);
  free(b);
  expect_refused(&d, ESCROW_E_MISMATCH, "size");
  escrow__free(p);
  free_dataset(&d);
}

static void test_altered_manifest_is_refused(void **st) {
  (void)st;
  ds d = make_dataset("dsman", ESCROW_FORMAT_V1);
  char *p = join(d.enc, ESCROW_MANIFEST_FILE);
  size_t len;
  uint8_t *b = tu_read(p, &len);
  b[len - 5] ^= 0x40;
  tu_write(p, b, len);
  free(b);
  expect_refused(&d, ESCROW_E_AUTH, NULL);
  escrow__free(p);
  free_dataset(&d);
}

static void test_wrong_key_is_refused_without_plaintext(void **st) {
  (void)st;
  ds d = make_dataset("dskey", ESCROW_FORMAT_V1);
  uint8_t k[32] = {7};
  escrow_cek *cek = NULL;
  assert_int_equal(escrow__cek_from_raw(&cek, k), 0);
  assert_int_equal(escrow_dataset_decrypt(d.enc, d.out, cek, NULL), ESCROW_E_AUTH);
  assert_false(tu_exists(d.out));
  escrow_cek_free(cek);
  free_dataset(&d);
}

static void test_other_project_is_refused(void **st) {
  (void)st;
  ds d = make_dataset("dsproj", ESCROW_FORMAT_V1);
  escrow_dataset_options o = ESCROW_DATASET_OPTIONS_INIT;
  o.context.project_id = "proj-2";
  assert_int_equal(decrypt(&d, &o), ESCROW_E_MISMATCH);
  assert_false(tu_exists(d.out));
  o.context.project_id = "proj-1";
  assert_int_equal(decrypt(&d, &o), 0);
  free_dataset(&d);
}

static void test_v0_dataset_decrypts_file_by_file(void **st) {
  (void)st;
  ds d = make_dataset("dsv0", ESCROW_FORMAT_V0);
  char *m = join(d.enc, ESCROW_MANIFEST_FILE);
  assert_false(tu_exists(m)); /* v0: no manifest */
  char *p = join(d.enc, "train.csv.bkenc");
  size_t len;
  uint8_t *b = tu_read(p, &len);
  assert_memory_equal(b, "Salted__", 8);
  free(b);
  assert_int_equal(decrypt(&d, NULL), 0);
  escrow__rmtree(d.out);
  escrow_dataset_options o = ESCROW_DATASET_OPTIONS_INIT;
  o.require_manifest = 1;
  assert_int_equal(decrypt(&d, &o), ESCROW_E_MISMATCH);
  assert_false(tu_exists(d.out));
  escrow__free(p);
  escrow__free(m);
  free_dataset(&d);
}

static void test_v1_without_manifest_still_checks_paths(void **st) {
  (void)st;
  ds d = make_dataset("dsnoman", ESCROW_FORMAT_V1);
  char *m = join(d.enc, ESCROW_MANIFEST_FILE);
  assert_int_equal(unlink(m), 0);
  char *a = join(d.enc, "img/a.png.bkenc");
  char *c = join(d.enc, "img/c.png.bkenc");
  assert_int_equal(rename(a, c), 0);
  expect_refused(&d, ESCROW_E_MISMATCH, "another path");
  escrow__free(a);
  escrow__free(c);
  escrow__free(m);
  free_dataset(&d);
}

static void test_encrypt_refuses_symlinks_bkenc_files_and_nonempty_output(void **st) {
  (void)st;
  escrow_cek *cek = tu_cek();
  char *root = tu_tmpdir("dsbad");
  char *in = join(root, "in");
  char *out = join(root, "out");
  put(in, "a.txt", "PLAINTEXT-A");
  char *l = join(in, "link");
  assert_int_equal(symlink("a.txt", l), 0);
  assert_int_equal(escrow_dataset_encrypt(in, out, cek, NULL), ESCROW_E_INVALID);
  assert_non_null(strstr(escrow_error_last(), "link"));
  assert_false(tu_exists(out));
  unlink(l);
  put(in, "b.txt.bkenc", "x");
  assert_int_equal(escrow_dataset_encrypt(in, out, cek, NULL), ESCROW_E_INVALID);
  assert_false(tu_exists(out));
  char *bk = join(in, "b.txt.bkenc");
  unlink(bk);
  put(out, "existing", "keep me");
  assert_int_equal(escrow_dataset_encrypt(in, out, cek, NULL), ESCROW_E_EXISTS);
  char *keep = join(out, "existing");
  assert_true(tu_exists(keep));
  escrow__free(keep);
  escrow__free(bk);
  escrow__free(l);
  escrow__rmtree(root);
  free(root);
  escrow__free(in);
  escrow__free(out);
  escrow_cek_free(cek);
}

typedef struct pr {
  uint64_t last, total, calls;
  int monotonic;
} pr;

static void on_progress(void *p, uint64_t done, uint64_t total) {
  pr *x = p;
  if (done < x->last)
    x->monotonic = 0;
  x->last = done;
  x->total = total;
  x->calls++;
}

static void test_progress_reports_bytes(void **st) {
  (void)st;
  escrow_cek *cek = tu_cek();
  char *root = tu_tmpdir("dsprog");
  char *in = join(root, "in");
  char *out = join(root, "out");
  uint8_t *big = malloc(200000);
  tu_fill(big, 200000, 3);
  char *p = join(in, "big.bin");
  assert_int_equal(escrow__mkdirs(in, 0700), 0);
  tu_write(p, big, 200000);
  put(in, "small.txt", "12345");
  pr x = {0, 0, 0, 1};
  escrow_dataset_options o = ESCROW_DATASET_OPTIONS_INIT;
  o.progress = on_progress;
  o.progress_payload = &x;
  assert_int_equal(escrow_dataset_encrypt(in, out, cek, &o), 0);
  assert_true(x.calls >= 2);
  assert_true(x.monotonic);
  assert_int_equal(x.total, 200005);
  assert_int_equal(x.last, 200005);
  free(big);
  escrow__free(p);
  escrow__rmtree(root);
  free(root);
  escrow__free(in);
  escrow__free(out);
  escrow_cek_free(cek);
}

typedef struct afd {
  ds *d;
  escrow_cek *cek;
  int rc;
} afd;

static int af_decrypt(void *c) {
  afd *x = c;
  x->rc = escrow_dataset_decrypt(x->d->enc, x->d->out, x->cek, NULL);
  return x->rc;
}

static void af_clean(void *c) {
  afd *x = c;
  if (x->rc != 0)
    assert_false(tu_exists(x->d->out));
  escrow__rmtree(x->d->out);
}

static int af_encrypt(void *c) {
  afd *x = c;
  x->rc = escrow_dataset_encrypt(x->d->plain, x->d->out, x->cek, NULL);
  return x->rc;
}

static void test_encrypt_and_decrypt_survive_allocation_failures(void **st) {
  (void)st;
  ds d = make_dataset("dsaf", ESCROW_FORMAT_V1);
  afd x = {&d, tu_cek(), 0};
  assert_true(tu_alloc_failures(af_decrypt, af_clean, &x, 0) > 10);
  assert_true(tu_alloc_failures(af_encrypt, af_clean, &x, 0) > 10);
  escrow_cek_free(x.cek);
  free_dataset(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v1_round_trip_includes_hidden_files_and_writes_a_manifest),
      cmocka_unit_test(test_missing_file_is_detected),
      cmocka_unit_test(test_added_file_is_detected),
      cmocka_unit_test(test_swapped_files_are_detected),
      cmocka_unit_test(test_rolled_back_file_is_detected),
      cmocka_unit_test(test_truncated_file_is_detected),
      cmocka_unit_test(test_altered_manifest_is_refused),
      cmocka_unit_test(test_wrong_key_is_refused_without_plaintext),
      cmocka_unit_test(test_other_project_is_refused),
      cmocka_unit_test(test_v0_dataset_decrypts_file_by_file),
      cmocka_unit_test(test_v1_without_manifest_still_checks_paths),
      cmocka_unit_test(test_encrypt_refuses_symlinks_bkenc_files_and_nonempty_output),
      cmocka_unit_test(test_progress_reports_bytes),
      cmocka_unit_test(test_encrypt_and_decrypt_survive_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
