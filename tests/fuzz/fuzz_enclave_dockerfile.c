/* libFuzzer target for escrow-enclave's Dockerfile reader (enclave/dockerfile.c, compiled in
 * directly) and runtime parameter name check. Invariants: a parse either fails with a message
 * or yields an absolute WORKDIR, NAME=VALUE environment entries, and an argv whose entries are
 * all non-NULL and NULL-terminated; the shell form always runs /bin/sh -c.
 * Run: ./fuzz_enclave_dockerfile -max_total_time=30 */
#include "../../enclave/dockerfile.c" /* first: it defines _GNU_SOURCE */

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
  enc_image img;
  char err[256];
  if (enc_dockerfile_parse((const char *)data, size, &img, err, sizeof(err)) != 0) {
    CHECK(err[0] != 0);
  } else {
    CHECK(img.workdir && img.workdir[0] == '/');
    CHECK(!img.copy_dest || img.copy_dest[0] == '/');
    for (size_t i = 0; i < img.n_env; i++) CHECK(strchr(img.env[i], '=') != NULL);
    if (img.n_entrypoint && img.entrypoint_shell) {
      CHECK(img.n_entrypoint == 3 && !strcmp(img.entrypoint[0], "/bin/sh"));
    }
    char **argv;
    size_t n;
    if (enc_image_argv(&img, &argv, &n) == 0) {
      CHECK(n > 0 && argv[n] == NULL);
      for (size_t i = 0; i < n; i++) CHECK(argv[i] != NULL);
      enc_strv_free(argv, n);
    }
    enc_image_free(&img);
  }
  /* the parameter name check on the same bytes as a C string */
  char *name = malloc(size + 1);
  CHECK(name != NULL);
  memcpy(name, data, size);
  name[size] = 0;
  if (escrow_runtime_param_name_ok(name)) {
    CHECK(strlen(name) <= 128);
    CHECK(strncmp(name, "ESCROW_", 7) != 0);
  }
  free(name);
  return 0;
}
