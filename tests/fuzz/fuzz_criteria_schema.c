/* libFuzzer target: compile arbitrary bytes as validation criteria, then audit them and
 * validate a small fixed document with them. Must never crash, hang or leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "escrow/escrow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  escrow_criteria *c = NULL;
  char *errs = NULL;
  int rc = escrow_criteria_compile(&c, (const char *)data, size, NULL, &errs);
  escrow_free(errs);
  if (rc == 0) {
    char *audit = NULL;
    if (escrow_criteria_audit(c, &audit) == 0)
      escrow_free(audit);
    static const char *docs[] = {"{}", "{\"a\":1,\"b\":\"x\",\"c\":[1,{\"d\":null}]}",
                                 "{\"report\":{\"accuracy\":{\"value\":0.5,\"n\":3}}}"};
    for (size_t i = 0; i < 3; i++) {
      int valid;
      char *e = NULL;
      if (escrow_criteria_validate(c, docs[i], strlen(docs[i]), &valid, &e) == 0)
        escrow_free(e);
    }
    escrow_criteria_free(c);
  }
  return 0;
}
