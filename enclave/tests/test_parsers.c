/* Unit tests of escrow-enclave's parsers: the Dockerfile reader, runtime parameter names and
 * the decoding of a report's json_data (object, JSON string, base64 of JSON). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
  assert_true(escrow_runtime_param_name_ok("ITERATIONS"));
  assert_true(escrow_runtime_param_name_ok("learning_rate"));
  assert_true(escrow_runtime_param_name_ok("a.b-c_d"));
  assert_false(escrow_runtime_param_name_ok("_x"));
  assert_false(escrow_runtime_param_name_ok("9lives"));
  assert_false(escrow_runtime_param_name_ok("a__b"));
  assert_false(escrow_runtime_param_name_ok("a b"));
  assert_false(escrow_runtime_param_name_ok("trailing_"));
  assert_false(escrow_runtime_param_name_ok(""));
  assert_false(escrow_runtime_param_name_ok("PATH"));
  assert_false(escrow_runtime_param_name_ok("ENCLAVE_URL"));
  assert_false(escrow_runtime_param_name_ok("ESCROW_RUN_ID"));
  assert_false(escrow_runtime_param_name_ok("LD_PRELOAD"));
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

static void json_data_that_is_neither_an_object_nor_a_string_document_is_refused(void **state) {
  (void)state;
  const char *bad[] = {"[1,2]", "3", "\"not json and not base64!\"", "\"WzEsMl0=\"" /* [1,2] */,
                       "{", "null", "\"MTI=\"" /* 12 */, "\"bnVsbA==\"" /* null */,
                       "\"[1,2]\"", "\"aGVsbG8=\"" /* hello: not JSON */};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char *doc = (char *)1;
    assert_int_equal(enc_json_data_decode(bad[i], strlen(bad[i]), &doc), -1);
    assert_null(doc);
  }
}

static void json_data_base64_of_a_json_string_decodes_to_that_string_manual_7_3_1_2_1(void **state) {
  (void)state;
  /* the manual's snippet: base64.b64encode(json.dumps(class_rep).encode()) */
  const char *jd = "\"IkFueSBvYmplY3QgY2FuIGJlIGhlcmUuLi4gY2FuIGJlIHRleHQsIGNhbiBiZSBkaWN0LCBldGMuIg==\"";
  char *doc = NULL;
  assert_int_equal(enc_json_data_decode(jd, strlen(jd), &doc), 0);
  assert_string_equal(doc, "\"Any object can be here... can be text, can be dict, etc.\"");
  free(doc);
}

static void upload_dates_are_iso_8601_from_last_modified_or_the_file_time(void **state) {
  (void)state;
  char d[40];
  assert_int_equal(enc_upload_date("Fri, 08 Dec 2023 21:30:58 GMT", NULL, d, sizeof(d)), 0);
  assert_string_equal(d, "2023-12-08T21:30:58.000Z");
  assert_int_equal(enc_upload_date("2023-12-08", NULL, d, sizeof(d)), -1);
  assert_int_equal(enc_upload_date("Fri, 08 Dec 2023 21:30:58 GMT trailing", NULL, d, sizeof(d)), -1);
  /* a folder dataset's file: its modification time, with milliseconds */
  char path[] = "/tmp/enc-upload-date-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  struct timespec ts[2] = {{1702071058, 830000000}, {1702071058, 830000000}};
  assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
  assert_int_equal(enc_upload_date(NULL, path, d, sizeof(d)), 0);
  assert_string_equal(d, "2023-12-08T21:30:58.830Z");
  char small[10];
  assert_int_equal(enc_upload_date(NULL, path, small, sizeof(small)), -1);
  unlink(path);
  assert_int_equal(enc_upload_date(NULL, path, d, sizeof(d)), -1);
  assert_int_equal(enc_upload_date(NULL, NULL, d, sizeof(d)), -1);
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


static void artifact_names_are_base_names_from_a_small_alphabet(void **state) {
  (void)state;
  char n[140];
  enc_artifact_name("../../etc/passwd", n, sizeof(n));
  assert_string_equal(n, "passwd");
  enc_artifact_name("C:\\x\\model weights.pkl", n, sizeof(n));
  assert_string_equal(n, "model_weights.pkl");
  enc_artifact_name("..", n, sizeof(n));
  assert_string_equal(n, "artifact");
  enc_artifact_name(NULL, n, sizeof(n));
  assert_string_equal(n, "artifact");
  enc_artifact_name(".hidden", n, sizeof(n));
  assert_string_equal(n, "hidden");
  char longname[400];
  memset(longname, 'a', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = 0;
  enc_artifact_name(longname, n, sizeof(n));
  assert_int_equal(strlen(n), 128);
}

static void mlflow_keys_are_bounded_and_from_mlflows_alphabet(void **state) {
  (void)state;
  assert_true(enc_mlflow_key_ok("loss"));
  assert_true(enc_mlflow_key_ok("val/acc-1.2 x_y"));
  assert_false(enc_mlflow_key_ok(""));
  assert_false(enc_mlflow_key_ok(NULL));
  assert_false(enc_mlflow_key_ok("a\nb"));
  assert_false(enc_mlflow_key_ok("a\"b"));
  assert_false(enc_mlflow_key_ok("caf\xc3\xa9"));
  char k[260];
  memset(k, 'k', 250);
  k[250] = 0;
  assert_true(enc_mlflow_key_ok(k));
  k[250] = 'k';
  k[251] = 0;
  assert_false(enc_mlflow_key_ok(k));
}

static void canonical_json_sorts_members_and_drops_whitespace(void **state) {
  (void)state;
  char *c = enc_canonical_json("{ \"b\" : [1, {\"z\":true,\"a\":null}], \"a\":\"x/y\" }");
  assert_non_null(c);
  assert_string_equal(c, "{\"a\":\"x/y\",\"b\":[1,{\"a\":null,\"z\":true}]}");
  free(c);
  assert_null(enc_canonical_json("{\"a\":1,\"a\":2}")); /* duplicate member */
  assert_null(enc_canonical_json("{\"a\":1.5}"));         /* integers only */
  assert_null(enc_canonical_json("not json"));
}

static void a_signed_certificate_verifies_and_any_change_breaks_it(void **state) {
  (void)state;
  enc_run_key k;
  assert_int_equal(enc_run_key_new(&k), 0);
  char pk[64], *body = NULL, *cert = NULL, *answer = NULL;
  enc_run_key_public_b64(&k, pk);
  assert_true(asprintf(&body, "{\"format\":\"" ENC_CERT_FORMAT "\",\"status\":\"Completed\","
                       "\"exit_code\":0,\"run_public_key\":\"%s\",\"signature_alg\":\"ed25519\"}", pk) > 0);
  assert_int_equal(enc_cert_sign(&k, body, &cert), 0);
  enc_run_key_free(&k);
  assert_null(k.sk);
  assert_int_equal(enc_cert_verify(cert, NULL, &answer), 0);
  assert_non_null(strstr(answer, "\"valid\":true"));
  free(answer);
  /* a changed value */
  char *t = strdup(cert);
  char *at = strstr(t, "Completed");
  memcpy(at, "Completex", 9);
  assert_int_equal(enc_cert_verify(t, NULL, &answer), 1);
  assert_non_null(strstr(answer, "does not verify"));
  free(answer);
  free(t);
  /* another key in place of the run key */
  enc_run_key k2;
  assert_int_equal(enc_run_key_new(&k2), 0);
  char pk2[64];
  enc_run_key_public_b64(&k2, pk2);
  enc_run_key_free(&k2);
  t = strdup(cert);
  at = strstr(t, pk);
  memcpy(at, pk2, strlen(pk));
  assert_int_equal(enc_cert_verify(t, NULL, &answer), 1);
  free(answer);
  free(t);
  /* whitespace and member order do not matter: the canonical form is signed */
  assert_int_equal(enc_cert_verify("{\"a\":1}", NULL, &answer), 1); /* no format, no signature */
  free(answer);
  free(cert);
  free(body);
}

int main(void) {
  if (escrow_init() != 0) return 1; /* libsodium, for the run key */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(dockerfile_exec_form_entrypoint_and_cmd_are_joined),
      cmocka_unit_test(dockerfile_shell_form_runs_through_sh_and_ignores_cmd),
      cmocka_unit_test(dockerfile_only_the_last_stage_counts),
      cmocka_unit_test(dockerfile_env_forms),
      cmocka_unit_test(dockerfile_without_entry_point_runs_nothing),
      cmocka_unit_test(dockerfile_bad_env_is_refused_with_its_line),
      cmocka_unit_test(param_names_follow_the_manual_and_spare_runtime_names),
      cmocka_unit_test(json_data_object_string_and_base64_decode_to_the_same_document),
      cmocka_unit_test(json_data_that_is_neither_an_object_nor_a_string_document_is_refused),
      cmocka_unit_test(json_data_base64_of_a_json_string_decodes_to_that_string_manual_7_3_1_2_1),
      cmocka_unit_test(upload_dates_are_iso_8601_from_last_modified_or_the_file_time),
      cmocka_unit_test(refused_report_errors_keep_only_field_names_of_the_criteria),
      cmocka_unit_test(artifact_names_are_base_names_from_a_small_alphabet),
      cmocka_unit_test(mlflow_keys_are_bounded_and_from_mlflows_alphabet),
      cmocka_unit_test(canonical_json_sorts_members_and_drops_whitespace),
      cmocka_unit_test(a_signed_certificate_verifies_and_any_change_breaks_it),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
