/* libFuzzer target: escrowd's multipart/form-data, urlencoded and flat JSON body parsers
 * (server/form.c, compiled in). The first input byte picks the parser; the boundary is fixed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/form.c"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  srv_form f;
  srv_form_init(&f);
  char err[256];
  const char *body = (const char *)data + 1;
  size_t len = size - 1;
  int rc;
  if (data[0] % 3 == 1)
    rc = srv_form_parse_multipart(&f, "multipart/form-data; boundary=XyZ", body, len, err,
                                  sizeof err);
  else if (data[0] % 3 == 2)
    rc = srv_form_parse_json(&f, body, len, err, sizeof err);
  else
    rc = srv_form_parse_urlencoded(&f, body, len, err, sizeof err);
  CHECK(f.n <= SRV_FORM_MAX_FIELDS);
  for (size_t i = 0; i < f.n; i++) {
    CHECK(f.fields[i].len <= len);
    CHECK(f.fields[i].name != NULL && f.fields[i].value != NULL);
    CHECK(f.fields[i].value[f.fields[i].len] == 0);
  }
  if (rc) CHECK(err[0] != 0);
  srv_form_clear(&f);
  return 0;
}
