/* The hardened zip reader and the reproducible writer under algorithm packages. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zip.h>

#include "zip_internal.h"

static char *vec(const char *name) {
  char rel[256];
  snprintf(rel, sizeof rel, "packages/%s", name);
  return strdup(tu_vector(rel));
}

static void refused(const char *name, const escrow_zip_limits *lim, int code, const char *word) {
  char *p = vec(name);
  escrow__zip *z = NULL;
  int rc = escrow__zip_open_file(&z, p, lim);
  if (rc != code)
    fail_msg("%s: got %d (%s), expected %d", name, rc, escrow_error_last(), code);
  assert_null(z);
  if (word != NULL && strstr(escrow_error_last(), word) == NULL)
    fail_msg("%s: message lacks '%s': %s", name, word, escrow_error_last());
  /* the same from memory */
  size_t len;
  uint8_t *b = tu_read(p, &len);
  assert_int_equal(escrow__zip_open_mem(&z, b, len, lim), code);
  free(b);
  free(p);
}

static void test_refuses_absolute_names(void **s) {
  (void)s;
  refused("bad-absolute.zip", NULL, ESCROW_E_FORMAT, "absolute");
}
static void test_refuses_dotdot(void **s) {
  (void)s;
  refused("bad-dotdot.zip", NULL, ESCROW_E_FORMAT, "unsafe");
}
static void test_refuses_backslashes(void **s) {
  (void)s;
  refused("bad-backslash.zip", NULL, ESCROW_E_FORMAT, "backslash");
}
static void test_refuses_empty_components(void **s) {
  (void)s;
  refused("bad-empty-component.zip", NULL, ESCROW_E_FORMAT, "unsafe");
}
static void test_refuses_symbolic_links(void **s) {
  (void)s;
  refused("bad-symlink.zip", NULL, ESCROW_E_FORMAT, "link");
}
static void test_refuses_duplicate_names(void **s) {
  (void)s;
  refused("bad-duplicate.zip", NULL, ESCROW_E_FORMAT, "twice");
}
static void test_refuses_duplicates_after_removing_dot_slash(void **s) {
  (void)s;
  refused("bad-duplicate-dotslash.zip", NULL, ESCROW_E_FORMAT, "twice");
}
static void test_refuses_a_file_that_is_also_a_folder(void **s) {
  (void)s;
  refused("bad-file-and-folder.zip", NULL, ESCROW_E_FORMAT, "both a file and a folder");
}
static void test_refuses_what_is_not_a_zip(void **s) {
  (void)s;
  refused("bad-not-a-zip.zip", NULL, ESCROW_E_FORMAT, NULL);
  escrow__zip *z = NULL;
  assert_int_equal(escrow__zip_open_file(&z, "/nonexistent/x.zip", NULL), ESCROW_E_NOTFOUND);
}
static void test_refuses_more_entries_than_the_limit(void **s) {
  (void)s;
  escrow_zip_limits l = ESCROW_ZIP_LIMITS_INIT;
  l.max_entries = 3;
  refused("limit-entries.zip", &l, ESCROW_E_LIMIT, "entries");
}
static void test_refuses_an_entry_over_the_size_limit(void **s) {
  (void)s;
  escrow_zip_limits l = ESCROW_ZIP_LIMITS_INIT;
  l.max_entry_size = 4096;
  refused("limit-entry-size.zip", &l, ESCROW_E_LIMIT, "limit");
}
static void test_refuses_a_total_over_the_limit(void **s) {
  (void)s;
  escrow_zip_limits l = ESCROW_ZIP_LIMITS_INIT;
  l.max_total_size = 5100;
  refused("limit-entry-size.zip", &l, ESCROW_E_LIMIT, "in all");
}
static void test_refuses_a_compression_ratio_bomb(void **s) {
  (void)s;
  refused("bomb-ratio.zip", NULL, ESCROW_E_LIMIT, "ratio");
}

typedef struct counter {
  uint64_t n;
} counter;

static int count_sink(void *p, const uint8_t *b, size_t l) {
  (void)b;
  ((counter *)p)->n += l;
  return 0;
}

static void test_stops_inflating_past_the_declared_size(void **s) {
  (void)s;
  char *p = vec("bad-size-lie.zip");
  escrow__zip *z = NULL;
  assert_int_equal(escrow__zip_open_file(&z, p, NULL), 0);
  size_t i;
  assert_int_equal(escrow__zip_find(z, "payload.bin", &i), 0);
  assert_int_equal(escrow__zip_size(z, i), 1000);
  counter c = {0};
  assert_int_equal(escrow__zip_stream(z, i, count_sink, &c), ESCROW_E_FORMAT);
  assert_true(c.n <= 1000); /* never more than declared reached the sink */
  uint8_t *b = NULL;
  size_t len = 0;
  assert_int_equal(escrow__zip_read(z, i, 1 << 20, &b, &len), ESCROW_E_FORMAT);
  assert_null(b);
  escrow__zip_free(z);
  free(p);
}

static void test_skips_directory_entries(void **s) {
  (void)s;
  char *p = vec("escrowaici-chained.zip");
  escrow__zip *z = NULL;
  assert_int_equal(escrow__zip_open_file(&z, p, NULL), 0);
  assert_int_equal(escrow__zip_count(z), 7); /* 8 entries, one is "models/" */
  assert_int_equal(escrow__zip_find(z, "models", NULL), ESCROW_E_NOTFOUND);
  assert_int_equal(escrow__zip_find(z, "models/b.pkl.bkenc", NULL), 0);
  escrow__zip_free(z);
  free(p);
}

static void test_reads_zip64_extra_in_local_headers_only(void **s) {
  (void)s;
  char *p = vec("escrowai-encrypt-lib.zip");
  escrow__zip *z = NULL;
  assert_int_equal(escrow__zip_open_file(&z, p, NULL), 0);
  size_t i;
  assert_int_equal(escrow__zip_find(z, "run.sh", &i), 0);
  uint8_t *b;
  size_t len;
  assert_int_equal(escrow__zip_read(z, i, 1 << 20, &b, &len), 0);
  assert_int_equal(len, strlen("#!/bin/sh\nset -e\npython3 app.py\n"));
  assert_memory_equal(b, "#!/bin/sh\nset -e\npython3 app.py\n", len);
  escrow__free(b);
  escrow__zip_free(z);
  free(p);
}

/* ---- writer -------------------------------------------------------------------------------- */

static char *write_zip(const char *dir, const char *name, const char *const *names,
                       const char *const *data, size_t n, bool deflate) {
  char *p = escrow__path_join(dir, name);
  escrow__zipw *w = NULL;
  assert_int_equal(escrow__zipw_open(&w, p), 0);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(escrow__zipw_add_mem(w, names[i], (const uint8_t *)data[i], strlen(data[i]),
                                          deflate, 0644),
                     0);
  assert_int_equal(escrow__zipw_commit(w), 0);
  return p;
}

static void test_writer_output_is_reproducible(void **s) {
  (void)s;
  char *dir = tu_tmpdir("zipw");
  const char *names[] = {"a.txt", "b/c.txt"};
  const char *data[] = {"hello hello hello", "world"};
  char *p1 = write_zip(dir, "1.zip", names, data, 2, true);
  char *p2 = write_zip(dir, "2.zip", names, data, 2, true);
  size_t l1, l2;
  uint8_t *b1 = tu_read(p1, &l1), *b2 = tu_read(p2, &l2);
  assert_int_equal(l1, l2);
  assert_memory_equal(b1, b2, l1);
  free(b1);
  free(b2);
  escrow__zip *z = NULL;
  assert_int_equal(escrow__zip_open_file(&z, p1, NULL), 0);
  assert_int_equal(escrow__zip_count(z), 2);
  assert_string_equal(escrow__zip_name(z, 1), "b/c.txt");
  assert_int_equal(escrow__zip_mode(z, 0), 0644);
  escrow__zip_free(z);
  escrow__rmtree(dir);
  free(dir);
  escrow__free(p1);
  escrow__free(p2);
}

static void test_writer_stores_or_deflates_as_asked(void **s) {
  (void)s;
  char *dir = tu_tmpdir("zipm");
  const char *names[] = {"x"};
  const char *data[] = {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
  for (int d = 0; d < 2; d++) {
    char *p = write_zip(dir, d ? "d.zip" : "s.zip", names, data, 1, d);
    int err;
    zip_t *za = zip_open(p, ZIP_RDONLY, &err);
    assert_non_null(za);
    zip_stat_t st;
    assert_int_equal(zip_stat_index(za, 0, 0, &st), 0);
    assert_int_equal(st.comp_method, d ? ZIP_CM_DEFLATE : ZIP_CM_STORE);
    zip_discard(za);
    escrow__free(p);
  }
  escrow__rmtree(dir);
  free(dir);
}

static void test_writer_abort_leaves_nothing(void **s) {
  (void)s;
  char *dir = tu_tmpdir("zipa");
  char *p = escrow__path_join(dir, "out.zip");
  escrow__zipw *w = NULL;
  assert_int_equal(escrow__zipw_open(&w, p), 0);
  assert_int_equal(escrow__zipw_add_mem(w, "a", (const uint8_t *)"x", 1, true, 0644), 0);
  escrow__zipw_abort(w);
  assert_false(tu_exists(p));
  /* an empty zip is refused, and leaves nothing either */
  assert_int_equal(escrow__zipw_open(&w, p), 0);
  assert_int_equal(escrow__zipw_commit(w), ESCROW_E_INVALID);
  assert_false(tu_exists(p));
  assert_int_equal(rmdir(dir), 0); /* empty: no temporary files */
  escrow__free(p);
  free(dir);
}

static void test_refuses_control_characters_and_dot_components(void **s) {
  (void)s;
  refused("bad-control-char.zip", NULL, ESCROW_E_FORMAT, "\\x01");
  char *dir = tu_tmpdir("zipn");
  const char *bad[] = {"a/./b", "..", "a/", "x/../y", "."};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(bad); i++) {
    const char *names[] = {"ok.txt", bad[i]};
    const char *data[] = {"1", "2"};
    char *p = write_zip(dir, "n.zip", names, data, 2, true);
    escrow__zip *z = NULL;
    int rc = escrow__zip_open_file(&z, p, NULL);
    if (strcmp(bad[i], "a/") == 0) {
      /* a folder entry holding data */
      assert_int_equal(rc, ESCROW_E_FORMAT);
    } else if (rc != ESCROW_E_FORMAT) {
      fail_msg("name %zu accepted", i);
    }
    escrow__zip_free(z);
    unlink(p);
    escrow__free(p);
  }
  escrow__rmtree(dir);
  free(dir);
}

static void test_ratio_applies_only_over_one_mebibyte(void **s) {
  (void)s;
  char *dir = tu_tmpdir("zipr");
  char *zeros = calloc(1, (1 << 20) + 2);
  memset(zeros, 'z', (1 << 20) + 1);
  for (int over = 0; over < 2; over++) {
    zeros[(1 << 20) + over] = '\0';
    const char *names[] = {"z.bin"};
    const char *data[] = {zeros};
    char *p = write_zip(dir, "r.zip", names, data, 1, true);
    escrow__zip *z = NULL;
    assert_int_equal(escrow__zip_open_file(&z, p, NULL), over ? ESCROW_E_LIMIT : 0);
    escrow__zip_free(z);
    unlink(p);
    escrow__free(p);
    zeros[(1 << 20) + over] = 'z';
  }
  free(zeros);
  escrow__rmtree(dir);
  free(dir);
}

static void test_detects_corrupt_stored_data(void **s) {
  (void)s;
  char *dir = tu_tmpdir("zipc");
  const char *names[] = {"data.bin"};
  const char *data[] = {"0123456789abcdefghijklmnopqrstuvwxyz"};
  char *p = write_zip(dir, "c.zip", names, data, 1, false);
  size_t len;
  uint8_t *b = tu_read(p, &len);
  uint8_t *hit = NULL;
  for (size_t k = 0; k + 6 <= len && hit == NULL; k++)
    if (memcmp(b + k, "abcdef", 6) == 0)
      hit = b + k;
  assert_non_null(hit);
  hit[0] ^= 1;
  tu_write(p, b, len);
  free(b);
  escrow__zip *z = NULL;
  assert_int_equal(escrow__zip_open_file(&z, p, NULL), 0);
  counter c = {0};
  assert_int_equal(escrow__zip_stream(z, 0, count_sink, &c), ESCROW_E_FORMAT);
  assert_non_null(strstr(escrow_error_last(), "CRC"));
  escrow__zip_free(z);
  escrow__free(p);
  escrow__rmtree(dir);
  free(dir);
}

static void test_peek_reads_a_prefix(void **s) {
  (void)s;
  char *p = vec("ours-v1.zip");
  escrow__zip *z = NULL;
  assert_int_equal(escrow__zip_open_file(&z, p, NULL), 0);
  size_t i, got;
  assert_int_equal(escrow__zip_find(z, "models/model.pkl.bkenc", &i), 0);
  uint8_t m[8];
  assert_int_equal(escrow__zip_peek(z, i, m, 8, &got), 0);
  assert_int_equal(got, 8);
  assert_memory_equal(m, ESCROW_BKENC_MAGIC, 8);
  escrow__zip_free(z);
  free(p);
}

typedef struct afz {
  const char *path;
  escrow__zip *z;
} afz;

static int af_open_read(void *c) {
  afz *x = c;
  int rc = escrow__zip_open_file(&x->z, x->path, NULL);
  for (size_t i = 0; rc == 0 && i < escrow__zip_count(x->z); i++) {
    uint8_t *b;
    size_t l;
    rc = escrow__zip_read(x->z, i, 1 << 20, &b, &l);
    if (rc == 0)
      escrow__free(b);
  }
  return rc;
}

static void af_clean(void *c) {
  afz *x = c;
  escrow__zip_free(x->z);
  x->z = NULL;
}

static void test_open_and_read_survive_allocation_failures(void **s) {
  (void)s;
  char *p = vec("escrowaici-chained.zip");
  afz x = {p, NULL};
  assert_true(tu_alloc_failures(af_open_read, af_clean, &x, 0) > 3);
  free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refuses_absolute_names),
      cmocka_unit_test(test_refuses_dotdot),
      cmocka_unit_test(test_refuses_backslashes),
      cmocka_unit_test(test_refuses_empty_components),
      cmocka_unit_test(test_refuses_symbolic_links),
      cmocka_unit_test(test_refuses_duplicate_names),
      cmocka_unit_test(test_refuses_duplicates_after_removing_dot_slash),
      cmocka_unit_test(test_refuses_a_file_that_is_also_a_folder),
      cmocka_unit_test(test_refuses_what_is_not_a_zip),
      cmocka_unit_test(test_refuses_more_entries_than_the_limit),
      cmocka_unit_test(test_refuses_an_entry_over_the_size_limit),
      cmocka_unit_test(test_refuses_a_total_over_the_limit),
      cmocka_unit_test(test_refuses_a_compression_ratio_bomb),
      cmocka_unit_test(test_stops_inflating_past_the_declared_size),
      cmocka_unit_test(test_skips_directory_entries),
      cmocka_unit_test(test_reads_zip64_extra_in_local_headers_only),
      cmocka_unit_test(test_writer_output_is_reproducible),
      cmocka_unit_test(test_writer_stores_or_deflates_as_asked),
      cmocka_unit_test(test_writer_abort_leaves_nothing),
      cmocka_unit_test(test_refuses_control_characters_and_dot_components),
      cmocka_unit_test(test_ratio_applies_only_over_one_mebibyte),
      cmocka_unit_test(test_detects_corrupt_stored_data),
      cmocka_unit_test(test_peek_reads_a_prefix),
      cmocka_unit_test(test_open_and_read_survive_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
