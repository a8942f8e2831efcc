/* libFuzzer target for the dataset manifest: the strict JSON reader (on the plaintext, since a
 * fuzzer cannot forge the MAC) and, for what parses, a rebuild that must give the same
 * entries; plus decode of the raw bytes as a sealed file with the fixture CEK.
 * Run: ./fuzz_manifest -max_total_time=30 tests/fuzz/corpus/manifest */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "package_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  escrow_cek *cek = fuzz_fixture_cek();
  escrow_manifest *m = NULL;
  int rc = escrow__manifest_parse_json(&m, data, size);
  if (rc == 0) {
    escrow__manifest_builder *b = NULL;
    CHECK(escrow__manifest_builder_new(&b, escrow_manifest_dataset_version(m)) == 0);
    for (size_t i = 0; i < escrow_manifest_count(m); i++) {
      const char *p;
      uint64_t sz;
      const uint8_t *tag;
      CHECK(escrow_manifest_entry(m, i, &p, &sz, &tag) == 0);
      CHECK(escrow__manifest_builder_add(b, p, sz, tag) == 0);
    }
    char *json = NULL;
    size_t jl = 0;
    CHECK(escrow__manifest_builder_json(b, &json, &jl) == 0);
    escrow_manifest *m2 = NULL;
    CHECK(escrow__manifest_parse_json(&m2, (const uint8_t *)json, jl) == 0);
    CHECK(escrow_manifest_count(m2) == escrow_manifest_count(m));
    escrow_manifest_free(m2);
    escrow__free(json);
    escrow__manifest_builder_free(b);
    escrow_manifest_free(m);
  } else {
    CHECK(m == NULL && (rc == ESCROW_E_FORMAT || rc == ESCROW_E_LIMIT));
  }
  rc = escrow_manifest_decode(&m, cek, data, size);
  CHECK(rc != 0 || m != NULL);
  escrow_manifest_free(m);
  return 0;
}
