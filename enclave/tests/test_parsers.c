/* Unit tests of escrow-enclave's parsers: the Dockerfile reader, runtime parameter names and
 * the decoding of a report's json_data (object, JSON string, base64 of JSON). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "enclave.h"

static enc_image parse_ok(const char *text) {
  enc_image img;
  char err[256];
  int rc = enc_dockerfile_parse(text, strlen(text), &img, err, sizeof(err));
  if (rc != 0) fail_msg("parse failed: %s", err);
  return img;
}

static void dockerfile_exec_form_entrypoint_and_cmd_are_joined(void **state) {
  (void)state;
  enc_image img = parse_ok("FROM python:3.11-slim\nWORKDIR /app\nCOPY . /app\n"
                           "ENTRYPOINT [\"python3\", \"algo.py\"]\nCMD [\"--fast\"]\n");
  char **argv;
  size_t n;
  assert_int_equal(enc_image_argv(&img, &argv, &n), 0);
  assert_int_equal(n, 3);
  assert_string_equal(argv[0], "python3");
  assert_string_equal(argv[1], "algo.py");
  assert_string_equal(argv[2], "--fast");
  assert_null(argv[3]);
  assert_string_equal(img.workdir, "/app");
  assert_string_equal(img.copy_dest, "/app");
  assert_string_equal(img.from, "python:3.11-slim");
  enc_strv_free(argv, n);
  enc_image_free(&img);
}

static void dockerfile_shell_form_runs_through_sh_and_ignores_cmd(void **state) {
  (void)state;
  enc_image img = parse_ok("FROM x\nENTRYPOINT python3 algo.py --n 3\nCMD [\"ignored\"]\n");
  char **argv;
  size_t n;
  assert_int_equal(enc_image_argv(&img, &argv, &n), 0);
  assert_int_equal(n, 3);
  assert_string_equal(argv[0], "/bin/sh");
  assert_string_equal(argv[1], "-c");
  assert_string_equal(argv[2], "python3 algo.py --n 3");
  enc_strv_free(argv, n);
  enc_image_free(&img);
}

static void dockerfile_only_the_last_stage_counts(void **state) {
  (void)state;
  enc_image img = parse_ok("FROM a AS build\nWORKDIR /build\nENV X=1\nCMD [\"make\"]\n"
                           "FROM b\n# comment\nRUN pip install \\\n  numpy\nWORKDIR app\n"
                           "WORKDIR sub\nCMD [\"run\"]\n");
  assert_string_equal(img.from, "b");
  assert_string_equal(img.workdir, "/app/sub");
  assert_int_equal(img.n_env, 0);
  assert_int_equal(img.run_lines, 1);
  assert_int_equal(img.n_cmd, 1);
  assert_string_equal(img.cmd[0], "run");
  enc_image_free(&img);
}

static void dockerfile_env_forms(void **state) {
  (void)state;
  enc_image img = parse_ok("FROM b\nENV A=1 B=\"two words\" C=x\\ y\nENV LEGACY some value\n");
  assert_int_equal(img.n_env, 4);
  assert_string_equal(img.env[0], "A=1");
  assert_string_equal(img.env[1], "B=two words");
  assert_string_equal(img.env[2], "C=x y");
  assert_string_equal(img.env[3], "LEGACY=some value");
  enc_image_free(&img);
}

static void dockerfile_without_entry_point_runs_nothing(void **state) {
  (void)state;
  enc_image img = parse_ok("FROM b\nRUN true\n");
  char **argv;
  size_t n;
  assert_int_equal(enc_image_argv(&img, &argv, &n), -1);
  assert_null(argv);
  enc_image_free(&img);
}

static void dockerfile_bad_env_is_refused_with_its_line(void **state) {
  (void)state;
  enc_image img;
  char err[256];
  const char *t = "FROM b\nENV A=1 =oops\n";
  assert_int_equal(enc_dockerfile_parse(t, strlen(t), &img, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "line 2"));
}

static void param_names_follow_the_manual_and_spare_runtime_names(void **state) {
  (void)state;
  assert_true(enc_param_name_ok("ITERATIONS"));
  assert_true(enc_param_name_ok("learning_rate"));
  assert_true(enc_param_name_ok("a.b-c_d"));
  assert_false(enc_param_name_ok("_x"));
  assert_false(enc_param_name_ok("9lives"));
  assert_false(enc_param_name_ok("a__b"));
  assert_false(enc_param_name_ok("a b"));
  assert_false(enc_param_name_ok("trailing_"));
  assert_false(enc_param_name_ok(""));
  assert_false(enc_param_name_ok("PATH"));
  assert_false(enc_param_name_ok("ENCLAVE_URL"));
  assert_false(enc_param_name_ok("ESCROW_RUN_ID"));
  assert_false(enc_param_name_ok("LD_PRELOAD"));
}

static void json_data_object_string_and_base64_decode_to_the_same_document(void **state) {
  (void)state;
  const char *forms[] = {
      "{\"report\":{\"n\":3}}",
      "\"{\\\"report\\\":{\\\"n\\\":3}}\"",
      "\"eyJyZXBvcnQiOnsibiI6M319\"",  /* base64 with padding absent */
      "\"eyJyZXBvcnQiOnsibiI6M319\"",
  };
  for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
    char *doc = NULL;
    assert_int_equal(enc_json_data_decode(forms[i], strlen(forms[i]), &doc), 0);
    assert_string_equal(doc, "{\"report\":{\"n\":3}}");
    free(doc);
  }
}

static void json_data_that_is_no_object_is_refused(void **state) {
  (void)state;
  const char *bad[] = {"[1,2]", "3", "\"not json and not base64!\"", "\"WzEsMl0=\"" /* [1,2] */,
                       "{", "null"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char *doc = (char *)1;
    assert_int_equal(enc_json_data_decode(bad[i], strlen(bad[i]), &doc), -1);
    assert_null(doc);
  }
}

static void refused_report_errors_keep_only_field_names_of_the_criteria(void **state) {
  (void)state;
  const char *crit = "{\"report\":{\"type\":\"dict\",\"schema\":{\"n\":{\"type\":\"integer\"}}}}";
  const char *errs = "{\"report\":[{\"n\":[\"min value is 3\"],\"Jane Doe 1961\":[\"unknown field\"],"
                     "\"list\":{\"0\":[\"x\"]}}]}";
  char *out = enc_redact_error_fields(errs, crit);
  assert_non_null(out);
  assert_null(strstr(out, "Jane"));
  assert_null(strstr(out, "list"));
  assert_non_null(strstr(out, "\"n\":[\"min value is 3\"]"));
  assert_non_null(strstr(out, "<redacted field 1>"));
  assert_non_null(strstr(out, "\"0\""));
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(dockerfile_exec_form_entrypoint_and_cmd_are_joined),
      cmocka_unit_test(dockerfile_shell_form_runs_through_sh_and_ignores_cmd),
      cmocka_unit_test(dockerfile_only_the_last_stage_counts),
      cmocka_unit_test(dockerfile_env_forms),
      cmocka_unit_test(dockerfile_without_entry_point_runs_nothing),
      cmocka_unit_test(dockerfile_bad_env_is_refused_with_its_line),
      cmocka_unit_test(param_names_follow_the_manual_and_spare_runtime_names),
      cmocka_unit_test(json_data_object_string_and_base64_decode_to_the_same_document),
      cmocka_unit_test(json_data_that_is_no_object_is_refused),
      cmocka_unit_test(refused_report_errors_keep_only_field_names_of_the_criteria),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
