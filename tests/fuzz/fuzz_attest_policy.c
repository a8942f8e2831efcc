/* libFuzzer target for the release-policy engine (escrow_attest_policy_check and _eval).
 * The input is a policy, optionally followed by a NUL and the claims (else fixed claims).
 * Invariants: only the documented codes come back; a policy that does not check never
 * evaluates to "allowed"; a policy that checks evaluates to 0 or ESCROW_E_CHECK on valid claims.
 * Run: ./fuzz_attest_policy -max_total_time=30 tests/fuzz/corpus/attest_policy */
#include <string.h>

#include "attest_internal.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_claims[] =
    "{\"iss\":\"https://maa.example/\",\"x-escrow-authority\":\"https://maa.example\","
    "\"x-ms-attestation-type\":\"sevsnpvm\",\"x-ms-sevsnpvm-is-debuggable\":false,"
    "\"x-ms-sevsnpvm-vmpl\":0,\"svn\":7,\"x-ms-runtime\":{\"project_id\":\"p\",\"keys\":[]}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t pl = nul != NULL ? (size_t)(nul - data) : size;
  const uint8_t *claims = nul != NULL ? nul + 1 : (const uint8_t *)fixed_claims;
  size_t cl = nul != NULL ? size - pl - 1 : strlen(fixed_claims);
  int check = escrow_attest_policy_check(data, pl);
  CHECK(check == 0 || check == ESCROW_E_FORMAT || check == ESCROW_E_UNSUPPORTED ||
        check == ESCROW_E_LIMIT);
  int rc = escrow_attest_policy_eval(data, pl, claims, cl);
  CHECK(rc == 0 || rc == ESCROW_E_CHECK || rc == ESCROW_E_FORMAT ||
        rc == ESCROW_E_UNSUPPORTED || rc == ESCROW_E_LIMIT);
  if (check != 0)
    CHECK(rc == check);
  if (nul == NULL && check == 0)
    CHECK(rc == 0 || rc == ESCROW_E_CHECK);
  return 0;
}
