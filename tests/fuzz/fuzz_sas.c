/* libFuzzer target for the SAS URL parser and judge (escrow_sas_parse, escrow_sas_check,
 * escrow_sas_verify, escrow_time_parse). The input is one URL (a NUL is appended).
 * Invariants: a parsed URL's parts are consistent; the judgement always has a status, a static
 * message and a reason that never contains the URL's signature; "valid" implies a parseable
 * URL with sr=c, r and l, spr=https.
 * Run: ./fuzz_sas -max_total_time=30 tests/fuzz/corpus/sas */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sas_internal.h"

#define CHECK(x)                                                                               \
  do {                                                                                         \
    if (!(x)) {                                                                                \
      fprintf(stderr, "check failed: %s (line %d)\n", #x, __LINE__);                           \
      abort();                                                                                 \
    }                                                                                          \
  } while (0)

#define DEV_KEY "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *url = malloc(size + 1);
  CHECK(url != NULL);
  memcpy(url, data, size);
  url[size] = '\0';

  escrow_time t;
  int trc = escrow_time_parse(&t, url, (size & 1) != 0);
  CHECK(trc == 0 || trc == ESCROW_E_FORMAT);
  if (trc == 0)
    CHECK(t.nsec < 1000000000u);

  escrow_sas *s = NULL;
  int rc = escrow_sas_parse(&s, url, ESCROW_SAS_PATH_STYLE);
  CHECK(rc == 0 || rc == ESCROW_E_FORMAT || rc == ESCROW_E_LIMIT);
  if (rc == 0)
    CHECK(escrow_sas_path_style(s) == 1);
  escrow_sas_free(s);
  s = NULL;
  rc = escrow_sas_parse(&s, url, 0);
  CHECK(rc == 0 || rc == ESCROW_E_FORMAT || rc == ESCROW_E_LIMIT);
  if (rc == 0) {
    CHECK(s != NULL);
    CHECK(escrow_sas_account(s) != NULL && escrow_sas_endpoint(s) != NULL);
    CHECK(escrow_sas_token(s) != NULL);
    CHECK(strcmp(escrow_sas_scheme(s), "https") == 0 || strcmp(escrow_sas_scheme(s), "http") == 0);
    if (escrow_sas_blob(s) != NULL)
      CHECK(escrow_sas_container(s) != NULL);
    int vrc = escrow_sas_verify(s, DEV_KEY);
    CHECK(vrc == 0 || vrc == ESCROW_E_AUTH || vrc == ESCROW_E_FORMAT ||
          vrc == ESCROW_E_UNSUPPORTED);
  } else {
    CHECK(s == NULL);
  }

  escrow_time now = {1717243200, 0};
  for (unsigned f = 0; f < 2; f++) {
    escrow_sas_result r;
    int crc = escrow_sas_check(&r, url, &now, f ? ESCROW_SAS_ALLOW_LOOPBACK_HTTP : 0);
    CHECK(crc == 0);
    CHECK(r.status_name != NULL && r.message != NULL);
    CHECK(strlen(r.reason) > 0 && strlen(r.reason) < ESCROW_SAS_REASON_MAX);
    if (r.status != ESCROW_SAS_INVALID) {
      CHECK(s != NULL);
      const char *sig = escrow_sas_param(s, "sig");
      const char *sp = escrow_sas_param(s, "sp");
      const char *sr = escrow_sas_param(s, "sr");
      CHECK(sig != NULL && sp != NULL && sr != NULL && strcmp(sr, "c") == 0);
      CHECK(strchr(sp, 'r') != NULL && strchr(sp, 'l') != NULL);
      CHECK(escrow_sas_param(s, "se") != NULL && escrow_sas_param(s, "sv") != NULL);
      if (f == 0)
        CHECK(strcmp(escrow_sas_param(s, "spr"), "https") == 0);
      if (strlen(sig) >= 8)
        CHECK(strstr(r.reason, sig) == NULL);
    }
  }
  escrow_sas_free(s);
  free(url);
  return 0;
}
