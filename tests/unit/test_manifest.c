/* The dataset manifest: its exact JSON, its sealing, and a strict reader. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "package_internal.h"

static const uint8_t TAG_A[32] = {0xaa, 1, 2, 3};
static const uint8_t TAG_B[32] = {0xbb, 9, 8, 7};

static escrow__manifest_builder *two_files(const char *version) {
  escrow__manifest_builder *b = NULL;
  assert_int_equal(escrow__manifest_builder_new(&b, version), 0);
  /* added out of order: the manifest sorts them */
  assert_int_equal(escrow__manifest_builder_add(b, "z/last.csv", 12, TAG_B), 0);
  assert_int_equal(escrow__manifest_builder_add(b, ".hidden", 0, TAG_A), 0);
  return b;
}

static void test_json_is_exactly_the_documented_form(void **st) {
  (void)st;
  escrow__manifest_builder *b = two_files("v7");
  char *json;
  size_t len;
  assert_int_equal(escrow__manifest_builder_json(b, &json, &len), 0);
  const char *want =
      "{\"format\":\"escrow-dataset-manifest/1\",\"dataset_version\":\"v7\",\"files\":["
      "{\"path\":\".hidden\",\"size\":0,\"hdrtag\":"
      "\"aa01020300000000000000000000000000000000000000000000000000000000\"},"
      "{\"path\":\"z/last.csv\",\"size\":12,\"hdrtag\":"
      "\"bb09080700000000000000000000000000000000000000000000000000000000\"}]}";
  assert_string_equal(json, want);
  assert_int_equal(len, strlen(want));
  escrow__free(json);
  escrow__manifest_builder_free(b);
  /* a NULL version is written as null */
  b = two_files(NULL);
  assert_int_equal(escrow__manifest_builder_json(b, &json, &len), 0);
  assert_non_null(strstr(json, "\"dataset_version\":null"));
  escrow__free(json);
  escrow__manifest_builder_free(b);
}

static void test_builder_refuses_duplicates_and_unclean_paths(void **st) {
  (void)st;
  escrow__manifest_builder *b = two_files(NULL);
  assert_int_equal(escrow__manifest_builder_add(b, "../x", 1, TAG_A), ESCROW_E_INVALID);
  assert_int_equal(escrow__manifest_builder_add(b, ".escrow-manifest", 1, TAG_A),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow__manifest_builder_add(b, ".hidden", 1, TAG_A), 0);
  char *json;
  size_t len;
  assert_int_equal(escrow__manifest_builder_json(b, &json, &len), ESCROW_E_INVALID);
  escrow__manifest_builder_free(b);
}

static void test_sealed_manifest_decodes_with_the_cek(void **st) {
  (void)st;
  escrow_cek *cek = tu_cek();
  escrow__manifest_builder *b = two_files("2024-01");
  escrow_context ctx = {"proj", "ds", "data@v1", "ignored", "kid"};
  uint8_t *sealed;
  size_t sl;
  assert_int_equal(escrow__manifest_builder_seal(b, cek, &ctx, &sealed, &sl), 0);
  escrow_header *h = NULL;
  assert_int_equal(escrow_header_parse(&h, sealed, sl, NULL), 0);
  assert_string_equal(escrow_header_context(h, 4), ESCROW_MANIFEST_PATH);
  assert_string_equal(escrow_header_context(h, 1), "proj");
  escrow_header_free(h);
  escrow_manifest *m = NULL;
  assert_int_equal(escrow_manifest_decode(&m, cek, sealed, sl), 0);
  assert_int_equal(escrow_manifest_count(m), 2);
  assert_string_equal(escrow_manifest_dataset_version(m), "2024-01");
  const char *p;
  uint64_t size;
  const uint8_t *tag;
  assert_int_equal(escrow_manifest_entry(m, 1, &p, &size, &tag), 0);
  assert_string_equal(p, "z/last.csv");
  assert_int_equal(size, 12);
  assert_memory_equal(tag, TAG_B, 32);
  size_t idx;
  assert_int_equal(escrow_manifest_find(m, ".hidden", &idx), 0);
  assert_int_equal(idx, 0);
  assert_int_equal(escrow_manifest_find(m, "nope", &idx), ESCROW_E_NOTFOUND);
  escrow_manifest_free(m);
  /* expected context */
  escrow_context same = {"proj", NULL, NULL, NULL, NULL};
  escrow_context other = {"other-proj", NULL, NULL, NULL, NULL};
  assert_int_equal(escrow__manifest_decode_ex(&m, cek, sealed, sl, &same), 0);
  escrow_manifest_free(m);
  assert_int_equal(escrow__manifest_decode_ex(&m, cek, sealed, sl, &other), ESCROW_E_MISMATCH);
  assert_null(m);
  /* wrong key, altered byte */
  uint8_t k[32] = {5};
  escrow_cek *wrong = NULL;
  assert_int_equal(escrow__cek_from_raw(&wrong, k), 0);
  assert_int_equal(escrow_manifest_decode(&m, wrong, sealed, sl), ESCROW_E_AUTH);
  sealed[sl - 3] ^= 1;
  assert_int_equal(escrow_manifest_decode(&m, cek, sealed, sl), ESCROW_E_AUTH);
  assert_null(m);
  escrow_cek_free(wrong);
  escrow__free(sealed);
  escrow__manifest_builder_free(b);
  escrow_cek_free(cek);
}

static void test_a_file_with_another_path_is_not_a_manifest(void **st) {
  (void)st;
  escrow_cek *cek = tu_cek();
  const char *json = "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[]}";
  escrow_encrypt_options eo = ESCROW_ENCRYPT_OPTIONS_INIT;
  eo.context.path = "data.csv";
  escrow_encryptor *e = NULL;
  assert_int_equal(escrow_encryptor_new(&e, cek, &eo), 0);
  uint8_t buf[8192];
  size_t w1, w2;
  assert_int_equal(escrow_encryptor_update(e, buf, sizeof buf, &w1, (const uint8_t *)json,
                                           strlen(json)),
                   0);
  assert_int_equal(escrow_encryptor_final(e, buf + w1, sizeof buf - w1, &w2), 0);
  escrow_encryptor_free(e);
  escrow_manifest *m = NULL;
  assert_int_equal(escrow_manifest_decode(&m, cek, buf, w1 + w2), ESCROW_E_MISMATCH);
  assert_int_equal(escrow_manifest_decode(&m, cek, (const uint8_t *)"Salted__12345678", 16),
                   ESCROW_E_FORMAT);
  escrow_cek_free(cek);
}

static int parse(const char *json) {
  escrow_manifest *m = NULL;
  int rc = escrow__manifest_parse_json(&m, (const uint8_t *)json, strlen(json));
  escrow_manifest_free(m);
  return rc;
}

#define T64 "0000000000000000000000000000000000000000000000000000000000000000"
#define F(p, s) "{\"path\":\"" p "\",\"size\":" s ",\"hdrtag\":\"" T64 "\"}"

static void test_parser_accepts_the_documented_form(void **st) {
  (void)st;
  assert_int_equal(parse("{\"format\":\"escrow-dataset-manifest/1\",\"dataset_version\":null,"
                         "\"files\":[" F("a", "1") "," F("b/c", "0") "]}"),
                   0);
  assert_int_equal(parse("{\"files\":[],\"format\":\"escrow-dataset-manifest/1\"}"), 0);
}

static void test_parser_is_strict(void **st) {
  (void)st;
  const char *bad[] = {
      "",
      "[]",
      "{}",
      "{\"format\":\"escrow-dataset-manifest/2\",\"files\":[]}",
      "{\"format\":\"escrow-dataset-manifest/1\"}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[" F("b", "1") "," F("a", "1") "]}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[" F("a", "1") "," F("a", "1") "]}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[" F("../a", "1") "]}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[" F(".escrow-manifest", "1") "]}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[" F("a", "-1") "]}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[" F("a", "1.5") "]}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[" F("a", "99999999999999999999") "]}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[{\"path\":\"a\",\"size\":1}]}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[{\"path\":\"a\",\"size\":1,"
      "\"hdrtag\":\"00\"}]}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[{\"path\":\"a\",\"size\":1,"
      "\"hdrtag\":\"" T64 "\",\"extra\":1}]}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[{\"path\":\"a\",\"size\":1,"
      "\"hdrtag\":\"AA00000000000000000000000000000000000000000000000000000000000000\"}]}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[{\"path\":\"a\",\"path\":\"b\","
      "\"size\":1,\"hdrtag\":\"" T64 "\"}]}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[],\"files\":[]}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[],\"more\":true}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[]} trailing",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[[]]}",
      "{\"format\":\"escrow-dataset-manifest/1\",\"files\":[" F("a\\u0000b", "1") "]}",
  };
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(bad); i++) {
    int rc = parse(bad[i]);
    if (rc != ESCROW_E_FORMAT)
      fail_msg("accepted (%d) bad manifest %zu: %s", rc, i, bad[i]);
  }
}

typedef struct afm {
  const uint8_t *data;
  size_t len;
  escrow_cek *cek;
  escrow_manifest *m;
} afm;

static int af_decode(void *c) {
  afm *x = c;
  return escrow_manifest_decode(&x->m, x->cek, x->data, x->len);
}

static void af_clean(void *c) {
  afm *x = c;
  escrow_manifest_free(x->m);
  x->m = NULL;
}

static void test_decode_survives_allocation_failures(void **st) {
  (void)st;
  escrow_cek *cek = tu_cek();
  escrow__manifest_builder *b = NULL;
  assert_int_equal(escrow__manifest_builder_new(&b, "v"), 0);
  for (int i = 0; i < 40; i++) {
    char p[32];
    snprintf(p, sizeof p, "dir/file-%02d.bin", i);
    assert_int_equal(escrow__manifest_builder_add(b, p, (uint64_t)i * 100, TAG_A), 0);
  }
  uint8_t *sealed;
  size_t sl;
  assert_int_equal(escrow__manifest_builder_seal(b, cek, NULL, &sealed, &sl), 0);
  afm x = {sealed, sl, cek, NULL};
  assert_true(tu_alloc_failures(af_decode, af_clean, &x, 0) > 3);
  escrow__free(sealed);
  escrow__manifest_builder_free(b);
  escrow_cek_free(cek);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_is_exactly_the_documented_form),
      cmocka_unit_test(test_builder_refuses_duplicates_and_unclean_paths),
      cmocka_unit_test(test_sealed_manifest_decodes_with_the_cek),
      cmocka_unit_test(test_a_file_with_another_path_is_not_a_manifest),
      cmocka_unit_test(test_parser_accepts_the_documented_form),
      cmocka_unit_test(test_parser_is_strict),
      cmocka_unit_test(test_decode_survives_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
