/* secrets.yaml: what BeeKeeperAI's tools and people write, and what we write. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secrets_internal.h"

static int parse(escrow__secrets *s, const char *text) {
  return escrow__secrets_parse(s, (const uint8_t *)text, strlen(text));
}

static void expect_pairs(const char *text, const char *const *pairs, size_t n) {
  escrow__secrets s;
  int rc = parse(&s, text);
  if (rc != 0)
    fail_msg("parse failed (%s) for:\n%s", escrow_error_last(), text);
  if (s.n != n)
    fail_msg("got %zu pairs, expected %zu for:\n%s", s.n, n, text);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(s.pairs[i].encrypted, pairs[2 * i]);
    assert_string_equal(s.pairs[i].original, pairs[2 * i + 1]);
  }
  escrow__secrets_clear(&s);
}

static void expect_error(const char *text, int code) {
  escrow__secrets s;
  int rc = parse(&s, text);
  if (rc != code)
    fail_msg("got %d (%s), expected %d for:\n%s", rc, escrow_error_last(), code, text);
  escrow__secrets_clear(&s);
}

static void test_reads_block_list_of_flow_pairs(void **st) {
  (void)st;
  const char *p[] = {"models/m.pkl.bkenc", "models/m.pkl", "app.py.bkenc", "app.py"};
  expect_pairs("secretFiles:\n  - [models/m.pkl.bkenc, models/m.pkl]\n"
               "  - [app.py.bkenc, app.py]\n",
               p, 2);
  expect_pairs("secretFiles: [[models/m.pkl.bkenc, models/m.pkl], ['app.py.bkenc', \"app.py\"]]\n",
               p, 2);
  expect_pairs("secretFiles:\n- - models/m.pkl.bkenc\n  - models/m.pkl\n- - app.py.bkenc\n  - app.py\n",
               p, 2);
}

static void test_numeric_and_boolean_looking_names_stay_strings(void **st) {
  (void)st;
  const char *p[] = {"007.bkenc", "007", "true.bkenc", "true", "1e3.bkenc", "1e3",
                     "null.bkenc", "null", "0x10.bkenc", "0x10"};
  expect_pairs("secretFiles:\n - [007.bkenc, 007]\n - [true.bkenc, true]\n - [1e3.bkenc, 1e3]\n"
               " - [null.bkenc, null]\n - [0x10.bkenc, 0x10]\n",
               p, 5);
}

static void test_unquoted_names_with_comma_space_are_split_right(void **st) {
  (void)st;
  const char *p[] = {"a, b.txt.bkenc", "a, b.txt", "c.bkenc", "c"};
  expect_pairs("secretFiles:\n - [a, b.txt.bkenc, a, b.txt]\n - [c.bkenc, c]\n", p, 2);
  /* no split matches the naming convention: the first ", " (as escrowai-encrypt's reader would) */
  const char *q[] = {"a.enc", "a, b"};
  expect_pairs("secretFiles:\n - [a.enc, a, b]\n", q, 1);
}

static void test_unquoted_names_with_hash_or_colon_are_read_literally(void **st) {
  (void)st;
  const char *p[] = {"notes #1.txt.bkenc", "notes #1.txt", "k: v.bkenc", "k: v",
                     "*star.bkenc", "*star", "&amp.bkenc", "&amp"};
  expect_pairs("secretFiles:\n - [notes #1.txt.bkenc, notes #1.txt]\n - [k: v.bkenc, k: v]\n"
               " - [*star.bkenc, *star]\n - [&amp.bkenc, &amp]\n",
               p, 4);
}

static void test_tags_and_anchors_are_not_taken_as_names(void **st) {
  (void)st;
  /* YAML would read "!x" as a tag: the line form keeps the name as written. */
  const char *p[] = {"!x.bkenc", "!x"};
  expect_pairs("secretFiles:\n - [!x.bkenc, !x]\n", p, 1);
}

static void test_leading_dot_slash_is_removed(void **st) {
  (void)st;
  const char *p[] = {"app.py.bkenc", "app.py"};
  expect_pairs("secretFiles:\n  - [./app.py.bkenc, ./app.py]\n", p, 1);
}

static void test_other_keys_are_ignored(void **st) {
  (void)st;
  const char *p[] = {"a.bkenc", "a"};
  expect_pairs("version: 2\nowner: {name: x, list: [1, 2]}\nsecretFiles:\n  - [a.bkenc, a]\n"
               "trailer: [z]\n",
               p, 1);
}

static void test_empty_lists_are_fine(void **st) {
  (void)st;
  expect_pairs("secretFiles: []\n", NULL, 0);
  expect_pairs("secretFiles:\n", NULL, 0);
}

static void test_unsafe_paths_are_refused(void **st) {
  (void)st;
  expect_error("secretFiles:\n  - [x.bkenc, ../x]\n", ESCROW_E_FORMAT);
  expect_error("secretFiles:\n  - [/etc/x.bkenc, x]\n", ESCROW_E_FORMAT);
  expect_error("secretFiles:\n  - [a\\\\x.bkenc, a\\\\x]\n", ESCROW_E_FORMAT);
  expect_error("secretFiles:\n  - [a//x.bkenc, a//x]\n", ESCROW_E_FORMAT);
  expect_error("secretFiles:\n  - [\"a\\u0001.bkenc\", \"a\\u0001\"]\n", ESCROW_E_FORMAT);
  expect_error("secretFiles:\n  - [\"a\\0.bkenc\", \"a\"]\n", ESCROW_E_FORMAT);
}

static void test_duplicates_are_refused(void **st) {
  (void)st;
  expect_error("secretFiles:\n  - [a.bkenc, a]\n  - [b.bkenc, a]\n", ESCROW_E_FORMAT);
  expect_error("secretFiles:\n  - [a.bkenc, a]\n  - [a.bkenc, b]\n", ESCROW_E_FORMAT);
  expect_error("secretFiles:\n  - [a, a]\n", ESCROW_E_FORMAT);
  expect_error("secretFiles: []\nsecretFiles: []\n", ESCROW_E_FORMAT);
}

static void test_malformed_files_are_refused(void **st) {
  (void)st;
  expect_error("", ESCROW_E_FORMAT);
  expect_error("just text\n", ESCROW_E_FORMAT);
  expect_error("files:\n  - [a.bkenc, a]\n", ESCROW_E_FORMAT);
  expect_error("secretFiles: 3\n", ESCROW_E_FORMAT);
  expect_error("secretFiles:\n  - [a.bkenc]\n", ESCROW_E_FORMAT);
  expect_error("secretFiles:\n  - {a.bkenc: a}\n", ESCROW_E_FORMAT);
  expect_error("secretFiles:\n  - a.bkenc\n", ESCROW_E_FORMAT);
  expect_error("secretFiles: [[a.bkenc, a]\n", ESCROW_E_FORMAT);
  expect_error("- [a.bkenc, a]\n", ESCROW_E_FORMAT);
}

static void test_oversized_files_are_refused(void **st) {
  (void)st;
  size_t n = ESCROW__SECRETS_MAX_BYTES + 1;
  char *big = malloc(n + 1);
  memset(big, ' ', n);
  memcpy(big, "secretFiles:", 12);
  big[n] = '\0';
  expect_error(big, ESCROW_E_LIMIT);
  free(big);
}

static void test_writer_round_trips_any_clean_name(void **st) {
  (void)st;
  const char *names[] = {"plain.txt",      "007",          "true",         "a, b.txt",
                         "notes #1.txt",   "k: v",         "q\"uote",      "!tag",
                         "*alias",         "&anchor",      "- dash",       "[x]",
                         "{y}",            "'single'",     " lead space",  "trail space ",
                         "caf\xc3\xa9",    "nel\xc2\x85x", "ls\xe2\x80\xa8x", "bom\xef\xbb\xbfx",
                         "dir/sub/f.bin",  "%percent",     "@at",          "`tick`",
                         "c1\xc2\x87x",   "nonchar\xef\xbf\xbfx"};
  escrow__secrets s;
  memset(&s, 0, sizeof s);
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(names); i++) {
    char e[64];
    snprintf(e, sizeof e, "%s.bkenc", names[i]);
    assert_int_equal(escrow__secrets_add(&s, e, names[i]), 0);
  }
  char *yaml = NULL;
  size_t len = 0;
  assert_int_equal(escrow__secrets_write(&s, &yaml, &len), 0);
  escrow__secrets back;
  int rc = escrow__secrets_parse(&back, (const uint8_t *)yaml, len);
  if (rc != 0)
    fail_msg("%s\n%s", escrow_error_last(), yaml);
  assert_int_equal(back.used_fallback, 0);
  assert_int_equal(back.n, s.n);
  for (size_t i = 0; i < s.n; i++) {
    assert_string_equal(back.pairs[i].original, s.pairs[i].original);
    assert_string_equal(back.pairs[i].encrypted, s.pairs[i].encrypted);
  }
  escrow__free(yaml);
  escrow__secrets_clear(&back);
  escrow__secrets_clear(&s);
  /* and the empty list */
  assert_int_equal(escrow__secrets_write(&s, &yaml, &len), 0);
  assert_int_equal(escrow__secrets_parse(&back, (const uint8_t *)yaml, len), 0);
  assert_int_equal(back.n, 0);
  escrow__free(yaml);
  escrow__secrets_clear(&back);
}

typedef struct afs {
  const char *text;
  escrow__secrets s;
  char *out;
} afs;

static int af_parse_write(void *c) {
  afs *x = c;
  int rc = escrow__secrets_parse(&x->s, (const uint8_t *)x->text, strlen(x->text));
  size_t l;
  if (rc == 0)
    rc = escrow__secrets_write(&x->s, &x->out, &l);
  return rc;
}

static void af_clean(void *c) {
  afs *x = c;
  escrow__secrets_clear(&x->s);
  escrow__free(x->out);
  x->out = NULL;
}

static void test_parse_and_write_survive_allocation_failures(void **st) {
  (void)st;
  afs a = {"secretFiles:\n  - [a.bkenc, a]\n  - [\"b c.bkenc\", \"b c\"]\n  - [d.bkenc, d]\n",
           {0}, NULL};
  assert_true(tu_alloc_failures(af_parse_write, af_clean, &a, 0) > 3);
  afs b = {"secretFiles:\n - [x, y.bkenc, x, y]\n - [p #1.bkenc, p #1]\n", {0}, NULL};
  assert_true(tu_alloc_failures(af_parse_write, af_clean, &b, 0) > 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_block_list_of_flow_pairs),
      cmocka_unit_test(test_numeric_and_boolean_looking_names_stay_strings),
      cmocka_unit_test(test_unquoted_names_with_comma_space_are_split_right),
      cmocka_unit_test(test_unquoted_names_with_hash_or_colon_are_read_literally),
      cmocka_unit_test(test_tags_and_anchors_are_not_taken_as_names),
      cmocka_unit_test(test_leading_dot_slash_is_removed),
      cmocka_unit_test(test_other_keys_are_ignored),
      cmocka_unit_test(test_empty_lists_are_fine),
      cmocka_unit_test(test_unsafe_paths_are_refused),
      cmocka_unit_test(test_duplicates_are_refused),
      cmocka_unit_test(test_malformed_files_are_refused),
      cmocka_unit_test(test_oversized_files_are_refused),
      cmocka_unit_test(test_writer_round_trips_any_clean_name),
      cmocka_unit_test(test_parse_and_write_survive_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
