/* libFuzzer target: escrowd's JWT parser and claim checks (server/jwt.c, compiled in). The
 * parser must refuse or accept any input without crashing, and anything it accepts holds the
 * invariants the verifier relies on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/jwt.c"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  srv_jwt *j = NULL;
  char err[256];
  static const char *const auds[] = {"frontoffice.beekeeperai"};
  if (srv_jwt_parse(&j, (const char *)data, size, err, sizeof err) == 0) {
    CHECK(j != NULL);
    CHECK(j->signing_len < size);
    CHECK(memcmp(j->signing_input, data, j->signing_len) == 0);
    CHECK(j->sig_len > 0);
    CHECK(j->naud <= SRV_JWT_MAX_AUD);
    (void)srv_jwt_check_claims(j, 1760000000, 60, 3600, "EscrowAI-API", auds, 1, err, sizeof err);
    srv_jwt_free(j);
  } else {
    CHECK(j == NULL);
    CHECK(err[0] != 0);
  }
  return 0;
}
