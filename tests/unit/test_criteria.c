/* Validation criteria: Cerberus 1.3.2 semantics (tests/vectors/criteria has the differential
 * corpus; these tests pin the behaviours users rely on, the limits and the error paths). */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "criteria_internal.h"
#include "testutil.h"

static const char *MANUAL =
    "{\"report\":{\"type\":\"dict\",\"schema\":{\"accuracy\":{\"type\":\"dict\",\"schema\":{"
    "\"value\":{\"type\":\"float\",\"min\":0,\"max\":1},\"CI\":{\"type\":\"float\",\"min\":0,"
    "\"max\":1},\"n\":{\"type\":\"integer\",\"min\":1}}}}}}";

static escrow_criteria *compile_ok(const char *schema) {
  escrow_criteria *c = NULL;
  char *errs = NULL;
  int rc = escrow_criteria_compile(&c, schema, strlen(schema), NULL, &errs);
  if (rc != 0)
    fail_msg("compile failed (%d): %s / %s", rc, escrow_error_last(), errs ? errs : "");
  assert_null(errs);
  return c;
}

/* Validate doc against schema; return the errors JSON (caller frees) and set *valid. */
static char *check(const char *schema, const char *doc, int *valid) {
  escrow_criteria *c = compile_ok(schema);
  char *errs = NULL;
  int rc = escrow_criteria_validate(c, doc, strlen(doc), valid, &errs);
  if (rc != 0)
    fail_msg("validate failed (%d): %s", rc, escrow_error_last());
  escrow_criteria_free(c);
  return errs;
}

static void expect(const char *schema, const char *doc, int want_valid, const char *want) {
  int valid = -1;
  char *errs = check(schema, doc, &valid);
  if (valid != want_valid || strcmp(errs, want) != 0)
    fail_msg("schema %s doc %s: got valid=%d %s, want valid=%d %s", schema, doc, valid, errs,
             want_valid, want);
  escrow_free(errs);
}

static void test_manual_example_valid_report_passes(void **state) {
  (void)state;
  expect(MANUAL, "{\"report\":{\"accuracy\":{\"value\":0.93,\"CI\":0.02,\"n\":1200}}}", 1,
         "{}");
}

static void test_out_of_range_values_give_cerberus_messages(void **state) {
  (void)state;
  expect(MANUAL, "{\"report\":{\"accuracy\":{\"value\":1.5,\"CI\":-1,\"n\":0}}}", 0,
         "{\"report\":[{\"accuracy\":[{\"CI\":[\"min value is 0\"],\"n\":[\"min value is 1\"],"
         "\"value\":[\"max value is 1\"]}]}]}");
}

static void test_unknown_fields_are_refused_at_every_level(void **state) {
  (void)state;
  expect(MANUAL, "{\"report\":{\"accuracy\":{\"auc\":1}},\"extra\":true}", 0,
         "{\"extra\":[\"unknown field\"],\"report\":[{\"accuracy\":[{\"auc\":[\"unknown "
         "field\"]}]}]}");
}

static void test_missing_fields_pass_unless_required(void **state) {
  (void)state;
  expect(MANUAL, "{\"report\":{\"accuracy\":{\"value\":0.5}}}", 1, "{}");
  escrow_criteria_options o = ESCROW_CRITERIA_OPTIONS_INIT;
  o.require_all = 1;
  escrow_criteria *c = NULL;
  assert_int_equal(escrow_criteria_compile(&c, MANUAL, strlen(MANUAL), &o, NULL), 0);
  const char *doc = "{\"report\":{\"accuracy\":{\"value\":0.5,\"CI\":0.1}}}";
  int valid = -1;
  char *errs = NULL;
  assert_int_equal(escrow_criteria_validate(c, doc, strlen(doc), &valid, &errs), 0);
  assert_int_equal(valid, 0);
  assert_string_equal(errs, "{\"report\":[{\"accuracy\":[{\"n\":[\"required field\"]}]}]}");
  escrow_free(errs);
  escrow_criteria_free(c);
}

static void test_booleans_count_as_integers_and_floats_but_not_numbers(void **state) {
  (void)state;
  expect("{\"i\":{\"type\":\"integer\"},\"f\":{\"type\":\"float\"}}", "{\"i\":true,\"f\":false}",
         1, "{}");
  expect("{\"n\":{\"type\":\"number\"}}", "{\"n\":true}", 0,
         "{\"n\":[\"must be of number type\"]}");
}

static void test_integer_goes_by_lexeme(void **state) {
  (void)state;
  expect("{\"n\":{\"type\":\"integer\"}}", "{\"n\":5.0}", 0,
         "{\"n\":[\"must be of integer type\"]}");
  expect("{\"n\":{\"type\":\"integer\"}}", "{\"n\":1e2}", 0,
         "{\"n\":[\"must be of integer type\"]}");
  expect("{\"n\":{\"type\":\"integer\"}}", "{\"n\":123456789012345678901234567890}", 1, "{}");
  expect("{\"n\":{\"type\":\"float\"}}", "{\"n\":1}", 1, "{}");
}

static void test_big_integers_compare_exactly(void **state) {
  (void)state;
  expect("{\"n\":{\"max\":9007199254740992}}", "{\"n\":9007199254740993}", 0,
         "{\"n\":[\"max value is 9007199254740992\"]}");
  expect("{\"n\":{\"max\":1e400}}", "{\"n\":123456789012345678901234567890}", 1, "{}");
  expect("{\"n\":{\"min\":100000000000000000000000}}", "{\"n\":99999999999999999999999.5}", 0,
         "{\"n\":[\"min value is 100000000000000000000000\"]}");
}

static void test_constraints_print_as_python_does(void **state) {
  (void)state;
  expect("{\"n\":{\"max\":1.0}}", "{\"n\":2}", 0, "{\"n\":[\"max value is 1.0\"]}");
  expect("{\"n\":{\"min\":1e-05}}", "{\"n\":0}", 0, "{\"n\":[\"min value is 1e-05\"]}");
  expect("{\"n\":{\"max\":1e16}}", "{\"n\":1e17}", 0, "{\"n\":[\"max value is 1e+16\"]}");
  expect("{\"n\":{\"max\":0.1}}", "{\"n\":1}", 0, "{\"n\":[\"max value is 0.1\"]}");
  expect("{\"s\":{\"allowed\":[\"a\",\"it's\"]}}", "{\"s\":[\"q\"]}", 0,
         "{\"s\":[\"unallowed values ['q']\"]}");
  expect("{\"s\":{\"type\":[\"string\",\"integer\"]}}", "{\"s\":1.5}", 0,
         "{\"s\":[\"must be of ['string', 'integer'] type\"]}");
}

static void test_nan_and_infinity_are_read_as_python_does(void **state) {
  (void)state;
  /* Python's json accepts them, and NaN passes min/max because every comparison is False */
  expect("{\"v\":{\"type\":\"float\",\"min\":0,\"max\":1}}", "{\"v\":NaN}", 1, "{}");
  expect("{\"v\":{\"type\":\"float\",\"min\":0,\"max\":1}}", "{\"v\":Infinity}", 0,
         "{\"v\":[\"max value is 1\"]}");
  expect("{\"v\":{\"forbidden\":[-Infinity]}}", "{\"v\":-Infinity}", 0,
         "{\"v\":[\"unallowed value -inf\"]}");
  expect("{\"v\":{\"allowed\":[NaN]}}", "{\"v\":NaN}", 1, "{}");
  expect("{\"v\":{\"allowed\":[\"NaN\"]}}", "{\"v\":\"Infinity\\\"NaN\"}", 0,
         "{\"v\":[\"unallowed value Infinity\\\"NaN\"]}");
}

static void test_literals_and_escapes_across_chunk_boundaries(void **state) {
  (void)state;
  /* the input reaches yajl in 64 KiB pieces: NaN, -Infinity and a lone surrogate escape must
   * read the same wherever a piece ends */
  escrow_criteria *c = compile_ok("{\"pad\":{\"type\":\"string\"},\"v\":{\"type\":\"list\"}}");
  size_t cap = 70000;
  char *doc = malloc(cap);
  for (size_t shift = 0; shift < 24; shift++) {
    size_t padlen = 65536 - 10 - shift;
    size_t n = (size_t)sprintf(doc, "{\"pad\":\"");
    memset(doc + n, 'p', padlen);
    n += padlen;
    n += (size_t)sprintf(doc + n, "\",\"v\":[NaN,-Infinity,\"\\ud800x\"],\"w\":1}");
    int valid = -1;
    char *errs = NULL;
    assert_int_equal(escrow_criteria_validate(c, doc, n, &valid, &errs), 0);
    assert_int_equal(valid, 0);
    assert_string_equal(errs, "{\"w\":[\"unknown field\"]}");
    escrow_free(errs);
  }
  free(doc);
  escrow_criteria_free(c);
  expect("{\"v\":{\"allowed\":[1]}}", "{\"v\":\"\\ud800\\ud800\\udc00\"}", 0,
         "{\"v\":[\"unallowed value \\ud800\xf0\x90\x80\x80\"]}"); /* lone, then U+10000 */
}

static void test_duplicate_keys_keep_the_last_value(void **state) {
  (void)state;
  expect("{\"a\":{\"type\":\"string\"}}", "{\"a\":\"x\",\"a\":5}", 0,
         "{\"a\":[\"must be of string type\"]}");
  expect("{\"a\":{\"type\":\"string\"}}", "{\"a\":5,\"a\":\"x\"}", 1, "{}");
}

static void test_messages_for_one_field_sort_by_rule(void **state) {
  (void)state;
  expect("{\"a\":{\"regex\":\"[0-9]+\",\"allowed\":[\"x\"],\"maxlength\":1}}", "{\"a\":\"abc\"}",
         0,
         "{\"a\":[\"unallowed value abc\",\"max length is 1\",\"value does not match regex "
         "'[0-9]+'\"]}");
}

static void test_regex_is_anchored_like_python_match(void **state) {
  (void)state;
  expect("{\"s\":{\"regex\":\"a+\"}}", "{\"s\":\"aab\"}", 0,
         "{\"s\":[\"value does not match regex 'a+'\"]}");
  expect("{\"s\":{\"regex\":\"a+\"}}", "{\"s\":\"aa\\n\"}", 1, "{}");
  expect("{\"s\":{\"regex\":\"(?i)ab\"}}", "{\"s\":\"AB\"}", 1, "{}");
  expect("{\"s\":{\"regex\":\"\\\\d+\"}}", "{\"s\":12}", 1, "{}");
}

static void test_lengths_count_code_points(void **state) {
  (void)state;
  expect("{\"s\":{\"maxlength\":2}}", "{\"s\":\"\\u00e9\\ud83d\\ude00\"}", 1, "{}");
  expect("{\"s\":{\"maxlength\":1}}", "{\"s\":\"\\u00e9\\u00e9\"}", 0,
         "{\"s\":[\"max length is 1\"]}");
}

static void test_nested_errors_nest_like_cerberus(void **state) {
  (void)state;
  expect("{\"a\":{\"type\":\"list\",\"minlength\":3,\"schema\":{\"type\":\"integer\"}}}",
         "{\"a\":[1,\"x\"]}", 0,
         "{\"a\":[\"min length is 3\",{\"1\":[\"must be of integer type\"]}]}");
  expect("{\"a\":{\"anyof\":[{\"type\":\"integer\"},{\"type\":\"string\"}]}}", "{\"a\":1.5}", 0,
         "{\"a\":[\"no definitions validate\",{\"anyof definition 0\":[\"must be of integer "
         "type\"],\"anyof definition 1\":[\"must be of string type\"]}]}");
}

static void test_null_needs_nullable(void **state) {
  (void)state;
  expect("{\"a\":{\"type\":\"integer\"}}", "{\"a\":null}", 0,
         "{\"a\":[\"null value not allowed\"]}");
  expect("{\"a\":{\"type\":\"integer\",\"nullable\":true,\"min\":3}}", "{\"a\":null}", 1, "{}");
}

static void test_schema_errors_come_back_as_cerberus_trees(void **state) {
  (void)state;
  static const struct {
    const char *schema, *errors;
  } cases[] = {
      {"{\"a\":{\"type\":\"flaot\"}}", "{\"a\":[{\"type\":[\"Unsupported types: flaot\"]}]}"},
      {"{\"a\":{\"typo\":1}}", "{\"a\":[{\"typo\":[\"unknown rule\"]}]}"},
      {"{\"a\":{\"required\":\"yes\"}}", "{\"a\":[{\"required\":[\"must be of boolean type\"]}]}"},
      {"{\"a\":\"integer\"}", "{\"a\":[\"must be of dict type\"]}"},
      {"{\"a\":{\"min\":null}}", "{\"a\":[{\"min\":[\"null value not allowed\"]}]}"},
      {"{\"a\":{\"contains\":[]}}", "{\"a\":[{\"contains\":[\"empty values not allowed\"]}]}"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    escrow_criteria *c = NULL;
    char *errs = NULL;
    int rc = escrow_criteria_compile(&c, cases[i].schema, strlen(cases[i].schema), NULL, &errs);
    assert_int_equal(rc, ESCROW_E_FORMAT);
    assert_null(c);
    assert_non_null(errs);
    assert_string_equal(errs, cases[i].errors);
    escrow_free(errs);
  }
}

static void test_normalization_rules_are_refused(void **state) {
  (void)state;
  const char *s = "{\"a\":{\"type\":\"integer\",\"default\":1}}";
  escrow_criteria *c = NULL;
  char *errs = NULL;
  assert_int_equal(escrow_criteria_compile(&c, s, strlen(s), NULL, &errs), ESCROW_E_FORMAT);
  assert_non_null(strstr(escrow_error_last(), "normalization rule 'default'"));
  assert_non_null(errs);
  escrow_free(errs);
}

static void test_bad_regex_is_refused_at_compile(void **state) {
  (void)state;
  const char *s = "{\"a\":{\"regex\":\"(\"}}";
  escrow_criteria *c = NULL;
  assert_int_equal(escrow_criteria_compile(&c, s, strlen(s), NULL, NULL), ESCROW_E_FORMAT);
  assert_null(c);
}

static void test_document_must_be_an_object(void **state) {
  (void)state;
  escrow_criteria *c = compile_ok(MANUAL);
  int valid = -1;
  char *errs = NULL;
  assert_int_equal(escrow_criteria_validate(c, "[1]", 3, &valid, &errs), ESCROW_E_FORMAT);
  assert_string_equal(escrow_error_last(), "'[1]' is not a document, must be a dict");
  assert_null(errs);
  assert_int_equal(escrow_criteria_validate(c, "{\"a\":", 5, &valid, &errs), ESCROW_E_FORMAT);
  assert_int_equal(escrow_criteria_validate(c, "{} {}", 5, &valid, &errs), ESCROW_E_FORMAT);
  assert_int_equal(escrow_criteria_validate(c, "{\"a\":nan}", 9, &valid, &errs), ESCROW_E_FORMAT);
  assert_int_equal(escrow_criteria_validate(c, "{\"a\":NaNa}", 10, &valid, &errs),
                   ESCROW_E_FORMAT);
  assert_int_equal(escrow_criteria_validate(c, "{\"a\":-Inf}", 10, &valid, &errs),
                   ESCROW_E_FORMAT);
  escrow_criteria_free(c);
}

static void test_hostile_documents_hit_limits(void **state) {
  (void)state;
  escrow_criteria *c = compile_ok("{\"a\":{}}");
  int valid = -1;
  char *errs = NULL;
  /* nesting */
  char deep[2 * 200 + 16];
  size_t n = 0;
  n += (size_t)sprintf(deep, "{\"a\":");
  for (int i = 0; i < 150; i++)
    deep[n++] = '[';
  for (int i = 0; i < 150; i++)
    deep[n++] = ']';
  deep[n++] = '}';
  assert_int_equal(escrow_criteria_validate(c, deep, n, &valid, &errs), ESCROW_E_LIMIT);
  /* number length */
  char *num = malloc(6000);
  memcpy(num, "{\"a\":", 5);
  memset(num + 5, '7', 5000);
  num[5005] = '}';
  assert_int_equal(escrow_criteria_validate(c, num, 5006, &valid, &errs), ESCROW_E_LIMIT);
  free(num);
  escrow_criteria_free(c);
  /* size */
  escrow_criteria_options o = ESCROW_CRITERIA_OPTIONS_INIT;
  o.max_document_bytes = 16;
  assert_int_equal(escrow_criteria_compile(&c, "{\"a\":{}}", 8, &o, NULL), 0);
  assert_int_equal(escrow_criteria_validate(c, "{\"a\":\"0123456789abcdef\"}", 24, &valid, &errs),
                   ESCROW_E_LIMIT);
  assert_null(errs);
  escrow_criteria_free(c);
}

static void test_catastrophic_regex_stops_at_the_match_limit(void **state) {
  (void)state;
  escrow_criteria *c = compile_ok("{\"s\":{\"regex\":\"^(a|aa)+$\"}}");
  char doc[128];
  size_t n = (size_t)sprintf(doc, "{\"s\":\"");
  memset(doc + n, 'a', 60);
  n += 60;
  n += (size_t)sprintf(doc + n, "c\"}");
  int valid = -1;
  char *errs = NULL;
  assert_int_equal(escrow_criteria_validate(c, doc, n, &valid, &errs), ESCROW_E_LIMIT);
  assert_null(errs);
  escrow_criteria_free(c);
}

static void test_too_many_errors_stop_validation(void **state) {
  (void)state;
  escrow_criteria_options o = ESCROW_CRITERIA_OPTIONS_INIT;
  o.max_errors = 50;
  escrow_criteria *c = NULL;
  const char *s = "{\"l\":{\"type\":\"list\",\"schema\":{\"type\":\"string\"}}}";
  assert_int_equal(escrow_criteria_compile(&c, s, strlen(s), &o, NULL), 0);
  char doc[1024];
  size_t n = (size_t)sprintf(doc, "{\"l\":[");
  for (int i = 0; i < 100; i++)
    n += (size_t)sprintf(doc + n, "%s%d", i ? "," : "", i);
  n += (size_t)sprintf(doc + n, "]}");
  int valid = -1;
  char *errs = NULL;
  assert_int_equal(escrow_criteria_validate(c, doc, n, &valid, &errs), ESCROW_E_LIMIT);
  assert_null(errs);
  assert_non_null(strstr(escrow_error_last(), "more than 50 errors"));
  escrow_criteria_free(c);
}

static void test_of_rules_on_long_lists_are_bounded_by_the_work_limit(void **state) {
  (void)state;
  /* 200 anyof definitions applied to each of 1000 items: 200 000 rule evaluations */
  char s[8192];
  size_t n = (size_t)sprintf(s, "{\"l\":{\"type\":\"list\",\"schema\":{\"anyof\":[");
  for (int i = 0; i < 200; i++)
    n += (size_t)sprintf(s + n, "%s{\"type\":\"string\"}", i ? "," : "");
  n += (size_t)sprintf(s + n, "]}}}");
  char doc[4096];
  size_t dn = (size_t)sprintf(doc, "{\"l\":[");
  for (int i = 0; i < 1000; i++)
    dn += (size_t)sprintf(doc + dn, "%s1", i ? "," : "");
  dn += (size_t)sprintf(doc + dn, "]}");
  escrow_criteria_options o = ESCROW_CRITERIA_OPTIONS_INIT;
  o.max_work = 100000;
  escrow_criteria *c = NULL;
  assert_int_equal(escrow_criteria_compile(&c, s, n, &o, NULL), 0);
  int valid = -1;
  char *errs = NULL;
  assert_int_equal(escrow_criteria_validate(c, doc, dn, &valid, &errs), ESCROW_E_LIMIT);
  assert_null(errs);
  assert_non_null(strstr(escrow_error_last(), "rule evaluations"));
  escrow_criteria_free(c);
}

static void test_documents_parse_from_files_in_chunks(void **state) {
  (void)state;
  char *dir = tu_tmpdir("criteria");
  char path[4096];
  snprintf(path, sizeof(path), "%s/report.json", dir);
  /* about 300 kB, so several 64 KiB chunks */
  size_t cap = 400000, n = 0;
  char *doc = malloc(cap);
  n += (size_t)sprintf(doc, "{\"l\":[");
  for (int i = 0; n < 300000; i++)
    n += (size_t)sprintf(doc + n, "%s{\"id\":%d,\"s\":\"x%d\"}", i ? "," : "", i, i);
  n += (size_t)sprintf(doc + n, "],\"bad\":1}");
  tu_write(path, doc, n);
  escrow_criteria *c = compile_ok(
      "{\"l\":{\"type\":\"list\",\"schema\":{\"type\":\"dict\",\"schema\":{\"id\":"
      "{\"type\":\"integer\"},\"s\":{\"type\":\"string\",\"maxlength\":3}}}}}");
  escrow_criteria_doc *d1 = NULL, *d2 = NULL;
  assert_int_equal(escrow_criteria_doc_parse_file(&d1, path, NULL), 0);
  assert_int_equal(escrow_criteria_doc_parse(&d2, doc, n, NULL), 0);
  int v1 = -1, v2 = -1;
  char *e1 = NULL, *e2 = NULL;
  assert_int_equal(escrow_criteria_validate_doc(c, d1, &v1, &e1), 0);
  assert_int_equal(escrow_criteria_validate_doc(c, d2, &v2, &e2), 0);
  assert_int_equal(v1, 0);
  assert_int_equal(v2, 0);
  assert_string_equal(e1, e2);
  assert_non_null(strstr(e1, "\"bad\":[\"unknown field\"]"));
  assert_non_null(strstr(e1, "\"1000\":[{\"s\":[\"max length is 3\"]}]"));
  escrow_free(e1);
  escrow_free(e2);
  escrow_criteria_doc_free(d1);
  escrow_criteria_doc_free(d2);
  escrow_criteria_options o = ESCROW_CRITERIA_OPTIONS_INIT;
  o.max_document_bytes = 100000;
  assert_int_equal(escrow_criteria_doc_parse_file(&d1, path, &o), ESCROW_E_LIMIT);
  assert_null(d1);
  snprintf(path, sizeof(path), "%s/missing.json", dir);
  assert_int_equal(escrow_criteria_doc_parse_file(&d1, path, NULL), ESCROW_E_NOTFOUND);
  escrow_criteria_free(c);
  free(doc);
  free(dir);
}

static void test_redaction_hides_document_values_in_messages(void **state) {
  (void)state;
  escrow_criteria_options o = ESCROW_CRITERIA_OPTIONS_INIT;
  o.redact_values = 1;
  const char *s = "{\"label\":{\"allowed\":[\"pos\",\"neg\"]},\"tags\":{\"allowed\":[\"a\"]},"
                  "\"n\":{\"max\":1,\"forbidden\":[7]}}";
  escrow_criteria *c = NULL;
  assert_int_equal(escrow_criteria_compile(&c, s, strlen(s), &o, NULL), 0);
  const char *doc = "{\"label\":\"Jane Doe, 1962-03-01\",\"tags\":[\"a\",\"MRN 12345\"],\"n\":7}";
  int valid = -1;
  char *answer = NULL;
  assert_int_equal(escrow_criteria_validate_report(c, doc, strlen(doc), &valid, &answer), 0);
  assert_int_equal(valid, 0);
  assert_string_equal(answer, "{\"status\":\"failed\",\"message\":{\"label\":[\"unallowed value "
                              "<redacted>\"],\"n\":[\"unallowed value <redacted>\",\"max value is "
                              "1\"],\"tags\":[\"unallowed values <redacted>\"]}}");
  assert_null(strstr(answer, "Jane"));
  assert_null(strstr(answer, "12345"));
  escrow_free(answer);
  escrow_criteria_free(c);
}

static void test_report_json_data_in_three_forms(void **state) {
  (void)state;
  escrow_criteria *c = compile_ok("{\"n\":{\"type\":\"integer\",\"min\":1}}");
  const char *forms[] = {
      "{\"n\":5}",
      "\"{\\\"n\\\":5}\"",
      "eyJuIjo1fQ==",   /* base64 of {"n":5} */
      "\"eyJuIjo1fQ\"", /* a JSON string holding base64, unpadded */
  };
  for (size_t i = 0; i < 4; i++) {
    int valid = -1;
    char *answer = NULL;
    assert_int_equal(
        escrow_criteria_validate_report(c, forms[i], strlen(forms[i]), &valid, &answer), 0);
    assert_int_equal(valid, 1);
    assert_string_equal(answer, "{\"status\":\"successful\",\"message\":{}}");
    escrow_free(answer);
  }
  int valid = -1;
  char *answer = NULL;
  assert_int_equal(escrow_criteria_validate_report(c, "{\"n\":0}", 7, &valid, &answer), 0);
  assert_int_equal(valid, 0);
  assert_string_equal(answer, "{\"status\":\"failed\",\"message\":{\"n\":[\"min value is 1\"]}}");
  escrow_free(answer);
  assert_int_equal(escrow_criteria_validate_report(c, "not base64!", 11, &valid, &answer),
                   ESCROW_E_FORMAT);
  assert_null(answer);
  escrow_criteria_free(c);
}

typedef struct thr {
  const escrow_criteria *c;
  const escrow_criteria_doc *d;
  int bad;
} thr;

static void *thr_run(void *p) {
  thr *t = p;
  for (int i = 0; i < 200; i++) {
    int valid = -1;
    char *errs = NULL;
    if (escrow_criteria_validate_doc(t->c, t->d, &valid, &errs) != 0 || valid != 0 ||
        strcmp(errs, "{\"report\":[{\"accuracy\":[{\"n\":[\"min value is 1\"]}]}]}") != 0)
      t->bad++;
    escrow_free(errs);
  }
  return NULL;
}

static void test_one_handle_serves_several_threads(void **state) {
  (void)state;
  escrow_criteria *c = compile_ok(MANUAL);
  escrow_criteria_doc *d = NULL;
  const char *doc = "{\"report\":{\"accuracy\":{\"value\":0.5,\"n\":0}}}";
  assert_int_equal(escrow_criteria_doc_parse(&d, doc, strlen(doc), NULL), 0);
  pthread_t th[4];
  thr t[4];
  for (int i = 0; i < 4; i++) {
    t[i].c = c;
    t[i].d = d;
    t[i].bad = 0;
    assert_int_equal(pthread_create(&th[i], NULL, thr_run, &t[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(t[i].bad, 0);
  }
  escrow_criteria_doc_free(d);
  escrow_criteria_free(c);
}

static void test_audit_flags_free_text_and_bounds_enumerations(void **state) {
  (void)state;
  escrow_criteria *c = compile_ok(
      "{\"label\":{\"type\":\"string\",\"allowed\":[\"a\",\"b\"],\"required\":true},"
      "\"free\":{\"type\":\"string\"}}");
  char *out = NULL;
  assert_int_equal(escrow_criteria_audit(c, &out), 0);
  assert_non_null(strstr(out, "\"path\":\"free\",\"kind\":\"string\",\"bits\":null"));
  assert_non_null(strstr(out, "\"path\":\"label\",\"kind\":\"enumeration\",\"bits\":1.0"));
  assert_non_null(strstr(out, "\"bounded\":false"));
  escrow_free(out);
  escrow_criteria_free(c);
  c = compile_ok("{\"label\":{\"type\":\"string\",\"allowed\":[\"a\",\"b\"],\"required\":true}}");
  assert_int_equal(escrow_criteria_audit(c, &out), 0);
  assert_non_null(strstr(out, "\"bounded\":true,\"total_bits\":1.0"));
  escrow_free(out);
  escrow_criteria_free(c);
}

static void test_null_arguments_are_refused(void **state) {
  (void)state;
  escrow_criteria *c = NULL;
  int valid;
  char *e = NULL;
  assert_int_equal(escrow_criteria_compile(NULL, "{}", 2, NULL, NULL), ESCROW_E_INVALID);
  assert_int_equal(escrow_criteria_compile(&c, NULL, 2, NULL, NULL), ESCROW_E_INVALID);
  assert_int_equal(escrow_criteria_validate(NULL, "{}", 2, &valid, &e), ESCROW_E_INVALID);
  escrow_criteria_options o = ESCROW_CRITERIA_OPTIONS_INIT;
  o.version = 99;
  assert_int_equal(escrow_criteria_compile(&c, "{}", 2, &o, NULL), ESCROW_E_INVALID);
  escrow_criteria_free(NULL);
  escrow_criteria_doc_free(NULL);
}

/* ---- allocation failures ------------------------------------------------------------------ */

typedef struct actx {
  escrow_criteria *c;
  char *out;
  const char *schema, *doc;
} actx;

static int a_compile(void *p) {
  actx *a = p;
  return escrow_criteria_compile(&a->c, a->schema, strlen(a->schema), NULL, &a->out);
}

static int a_validate(void *p) {
  actx *a = p;
  int valid;
  return escrow_criteria_validate(a->c, a->doc, strlen(a->doc), &valid, &a->out);
}

static int a_audit(void *p) {
  actx *a = p;
  return escrow_criteria_audit(a->c, &a->out);
}

static int a_pair(void *p) {
  actx *a = p;
  return escrow_criteria_check_pair(a->doc, strlen(a->doc), &a->out);
}

/* A refused schema is this operation's success: it must still end in NOMEM when an
 * allocation fails, never in a schema error missing its tree. */
static int a_compile_refused(void *p) {
  actx *a = p;
  int rc = escrow_criteria_compile(&a->c, a->schema, strlen(a->schema), NULL, &a->out);
  if (rc == ESCROW_E_FORMAT && a->out && strstr(a->out, "unknown rule"))
    return 0;
  return rc == 0 ? ESCROW_E_INVALID : rc;
}

static void a_clean_compile(void *p) {
  actx *a = p;
  escrow_criteria_free(a->c);
  a->c = NULL;
  escrow_free(a->out);
  a->out = NULL;
}

static void a_clean_out(void *p) {
  actx *a = p;
  escrow_free(a->out);
  a->out = NULL;
}

static void test_allocation_failures_are_reported_cleanly(void **state) {
  (void)state;
  actx a = {0};
  a.schema = "{\"r\":{\"type\":\"dict\",\"schema\":{\"x\":{\"anyof_type\":[\"integer\",\"string\"],"
             "\"regex\":\"[a-z]+\"},\"l\":{\"type\":\"list\",\"schema\":{\"type\":\"number\","
             "\"max\":1}},\"k\":{\"keysrules\":{\"regex\":\"[a-z]\"},\"valuesrules\":{\"min\":0}}}}}";
  assert_true(tu_alloc_failures(a_compile, a_clean_compile, &a, 0) > 10);
  a.schema = "{\"a\":{\"type\":\"flaot\"},\"b\":{\"schema\":{\"c\":{\"typo\":1}}}}";
  assert_true(tu_alloc_failures(a_compile_refused, a_clean_compile, &a, 0) > 10);
  a.schema = "{\"r\":{\"type\":\"dict\",\"schema\":{\"x\":{\"anyof_type\":[\"integer\",\"string\"],"
             "\"regex\":\"[a-z]+\"},\"l\":{\"type\":\"list\",\"schema\":{\"type\":\"number\","
             "\"max\":1}},\"k\":{\"keysrules\":{\"regex\":\"[a-z]\"},\"valuesrules\":{\"min\":0}}}}}";
  assert_int_equal(a_compile(&a), 0);
  escrow_free(a.out);
  a.out = NULL;
  a.doc = "{\"r\":{\"x\":1.5,\"l\":[0,2,\"s\"],\"k\":{\"A\":-1,\"b\":2},\"u\":1},\"v\":null}";
  assert_true(tu_alloc_failures(a_validate, a_clean_out, &a, 0) > 10);
  tu_alloc_failures(a_audit, a_clean_out, &a, 0);
  escrow_criteria_free(a.c);
  a.c = NULL;
  a.doc = "{\"schema\":{\"a\":{\"type\":\"integer\"}},\"document\":{\"a\":\"x\"}}";
  tu_alloc_failures(a_pair, a_clean_out, &a, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_manual_example_valid_report_passes),
      cmocka_unit_test(test_out_of_range_values_give_cerberus_messages),
      cmocka_unit_test(test_unknown_fields_are_refused_at_every_level),
      cmocka_unit_test(test_missing_fields_pass_unless_required),
      cmocka_unit_test(test_booleans_count_as_integers_and_floats_but_not_numbers),
      cmocka_unit_test(test_integer_goes_by_lexeme),
      cmocka_unit_test(test_big_integers_compare_exactly),
      cmocka_unit_test(test_constraints_print_as_python_does),
      cmocka_unit_test(test_nan_and_infinity_are_read_as_python_does),
      cmocka_unit_test(test_literals_and_escapes_across_chunk_boundaries),
      cmocka_unit_test(test_duplicate_keys_keep_the_last_value),
      cmocka_unit_test(test_messages_for_one_field_sort_by_rule),
      cmocka_unit_test(test_regex_is_anchored_like_python_match),
      cmocka_unit_test(test_lengths_count_code_points),
      cmocka_unit_test(test_nested_errors_nest_like_cerberus),
      cmocka_unit_test(test_null_needs_nullable),
      cmocka_unit_test(test_schema_errors_come_back_as_cerberus_trees),
      cmocka_unit_test(test_normalization_rules_are_refused),
      cmocka_unit_test(test_bad_regex_is_refused_at_compile),
      cmocka_unit_test(test_document_must_be_an_object),
      cmocka_unit_test(test_hostile_documents_hit_limits),
      cmocka_unit_test(test_catastrophic_regex_stops_at_the_match_limit),
      cmocka_unit_test(test_too_many_errors_stop_validation),
      cmocka_unit_test(test_of_rules_on_long_lists_are_bounded_by_the_work_limit),
      cmocka_unit_test(test_documents_parse_from_files_in_chunks),
      cmocka_unit_test(test_redaction_hides_document_values_in_messages),
      cmocka_unit_test(test_report_json_data_in_three_forms),
      cmocka_unit_test(test_one_handle_serves_several_threads),
      cmocka_unit_test(test_audit_flags_free_text_and_bounds_enumerations),
      cmocka_unit_test(test_null_arguments_are_refused),
      cmocka_unit_test(test_allocation_failures_are_reported_cleanly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
