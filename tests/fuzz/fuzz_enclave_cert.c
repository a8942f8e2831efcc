/* libFuzzer target for escrow-enclave's run certificate reader (enclave/cert.c, compiled in
 * directly): verify-certificate's parsing and canonical serialisation of untrusted JSON.
 * Invariants: verification always answers a JSON document and accepts nothing that does not
 * carry a valid signature; the canonical form of a document is its own canonical form.
 * Run: ./fuzz_enclave_cert -max_total_time=30 */
#include "../../enclave/cert.c" /* first: it defines _GNU_SOURCE */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                               \
  do {                                                                                         \
    if (!(x)) {                                                                                \
      fprintf(stderr, "check failed: %s (line %d)\n", #x, __LINE__);                           \
      abort();                                                                                 \
    }                                                                                          \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  if (!ready) {
    CHECK(escrow_init() == 0);
    ready = 1;
  }
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  char *answer = NULL;
  int rc = enc_cert_verify(text, NULL, &answer);
  CHECK(rc == 0 || rc == 1);
  CHECK(answer != NULL && answer[0] == '{');
  CHECK((rc == 0) == (strstr(answer, "\"valid\":true") != NULL));
  if (rc == 0) CHECK(strstr(text, "\"signature\"") != NULL);
  free(answer);
  char *c1 = enc_canonical_json(text);
  if (c1) {
    char *c2 = enc_canonical_json(c1);
    CHECK(c2 != NULL && strcmp(c1, c2) == 0);
    free(c2);
  }
  free(c1);
  free(text);
  return 0;
}
