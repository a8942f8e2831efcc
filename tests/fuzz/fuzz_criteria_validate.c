/* libFuzzer target: the first line of the input is criteria, the rest a document (or the
 * whole input is a line of the differential protocol when it starts with '#'). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "escrow/escrow.h"

static const char *FALLBACK =
    "{\"report\":{\"type\":\"dict\",\"schema\":{\"v\":{\"type\":\"float\",\"min\":0,\"max\":1},"
    "\"n\":{\"type\":\"integer\",\"min\":1},\"s\":{\"type\":\"string\",\"regex\":\"[a-z]+\","
    "\"maxlength\":8},\"l\":{\"type\":\"list\",\"schema\":{\"anyof_type\":[\"integer\","
    "\"string\"]}},\"k\":{\"keysrules\":{\"regex\":\"[a-z]\"},\"valuesrules\":{\"nullable\":"
    "true,\"allowed\":[1,\"a\",null]}}},\"allow_unknown\":false}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  if (size && text[0] == '#') {
    char *res = NULL;
    if (escrow_criteria_check_pair(text + 1, size - 1, &res) == 0)
      escrow_free(res);
    return 0;
  }
  const char *nl = memchr(text, '\n', size);
  escrow_criteria *c = NULL;
  const char *doc = text;
  size_t dlen = size;
  if (nl && escrow_criteria_compile(&c, text, (size_t)(nl - text), NULL, NULL) == 0) {
    doc = nl + 1;
    dlen = size - (size_t)(nl - text) - 1;
  } else if (escrow_criteria_compile(&c, FALLBACK, strlen(FALLBACK), NULL, NULL) != 0) {
    return 0;
  }
  int valid;
  char *errs = NULL;
  if (escrow_criteria_validate(c, doc, dlen, &valid, &errs) == 0)
    escrow_free(errs);
  char *answer = NULL;
  if (escrow_criteria_validate_report(c, doc, dlen, &valid, &answer) == 0)
    escrow_free(answer);
  escrow_criteria_free(c);
  return 0;
}
