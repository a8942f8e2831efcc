/* libFuzzer target for the Platform and Enclave API answer parsers (libescrow/client_json.c):
 * the first byte picks the parser, the rest is one answer body. Invariants: every parser
 * returns 0, ESCROW_E_FORMAT or ESCROW_E_NOMEM; a success yields a result whose json text
 * parses again; a typed list holds exactly the answer's items; the dumped JSON of an
 * artifact's details re-parses to the same text (dump is a fixed point).
 * Run: ./fuzz_client_json -max_total_time=30 tests/fuzz/corpus/client_json */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "fuzz_common.h"

static void reparses(const char *json) {
  CHECK(json != NULL);
  yajl_val v = NULL;
  CHECK(escrow__cjson_parse(json, strlen(json), "json", &v) == 0);
  char *again = escrow__cjson_dump(v);
  CHECK(again != NULL);
  yajl_val w = NULL;
  CHECK(escrow__cjson_parse(again, strlen(again), "json", &w) == 0);
  char *third = escrow__cjson_dump(w);
  CHECK(third != NULL && strcmp(again, third) == 0);
  escrow__free(third);
  escrow__free(again);
  yajl_tree_free(w);
  yajl_tree_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  unsigned which = data[0] % 8;
  size_t len = size - 1;
  char *text = malloc(len + 1);
  if (!text)
    return 0;
  memcpy(text, data + 1, len);
  text[len] = 0;
  int rc = 0;
  switch (which) {
  case 0: {
    escrow_api_kek *k = NULL;
    rc = escrow__parse_kek(text, len, &k);
    if (!rc) {
      CHECK(k->key_content != NULL);
      reparses(k->json);
    }
    escrow_api_kek_free(k);
    break;
  }
  case 1: {
    escrow_api_artifact *a = NULL;
    rc = escrow__parse_artifact(text, len, &a);
    if (!rc) {
      CHECK(a->id != NULL);
      reparses(a->json);
      if (a->details)
        reparses(a->details);
    }
    escrow_api_artifact_free(a);
    break;
  }
  case 2: {
    escrow_api_versions *v = NULL;
    rc = escrow__parse_versions(text, len, &v);
    if (!rc) {
      yajl_val t = NULL;
      CHECK(escrow__cjson_parse(v->json, strlen(v->json), "json", &t) == 0);
      yajl_val items = escrow__cjson_get(t, "versions");
      CHECK(YAJL_IS_ARRAY(items) && items->u.array.len == v->count);
      yajl_tree_free(t);
      for (size_t i = 0; i < v->count; i++)
        reparses(v->items[i].json);
    }
    escrow_api_versions_free(v);
    break;
  }
  case 3: {
    escrow_api_run *r = NULL;
    rc = escrow__parse_run(text, len, &r);
    if (!rc)
      CHECK(r->simulated_tee >= -1 && r->simulated_tee <= 1);
    escrow_api_run_free(r);
    break;
  }
  case 4: {
    escrow_api_report *r = NULL;
    rc = escrow__parse_report(text, len, &r);
    if (!rc)
      CHECK(r->report_len == strlen(r->report_content));
    escrow_api_report_free(r);
    break;
  }
  case 5: {
    escrow_api_answer *a = NULL;
    rc = escrow__parse_answer(text, len, 200, &a);
    if (!rc)
      CHECK(strlen(a->json) == len);
    escrow_api_answer_free(a);
    break;
  }
  case 6: {
    escrow_enclave_files *f = NULL;
    rc = escrow__parse_files(text, len, &f);
    if (!rc)
      for (size_t i = 0; i < f->count; i++)
        CHECK(f->items[i].name != NULL);
    escrow_enclave_files_free(f);
    break;
  }
  default: {
    escrow_enclave_verdict *d = NULL;
    rc = escrow__parse_verdict(text, len, 400, &d);
    if (!rc) {
      CHECK(d->valid == (strcmp(d->status, "successful") == 0));
      if (d->message)
        reparses(d->message);
    }
    escrow_enclave_verdict_free(d);
    break;
  }
  }
  CHECK(rc == 0 || rc == ESCROW_E_FORMAT || rc == ESCROW_E_NOMEM);
  free(text);
  return 0;
}
