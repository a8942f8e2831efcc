/*
 * Dataset encryption rate (goal: >= 20,000 small files per second on one core).
 *
 * Encrypts N in-memory files of 1..4 KiB (sizes from a fixed pseudo-random sequence) the way
 * escrow_dataset_encrypt does per file, minus the file I/O: escrow_encryptor_new with the
 * file's context (project, role, asset, path, key id), update, final, and a manifest entry with
 * the header tag; then seals the manifest. Prints files/s (wall and CPU time, best of R runs)
 * and the command that reproduces the figure.
 *
 * usage: bench_dataset [--files N] [--runs R]      defaults: 10000 files, best of 3
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "package_internal.h"

static double now(clockid_t clk) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_dataset: %s failed: %d (%s)\n", what, rc, escrow_error_last());
  exit(2);
}

int main(int argc, char **argv) {
  size_t files = 10000;
  int runs = 3;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--files") == 0 && i + 1 < argc)
      files = (size_t)strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
      runs = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_dataset [--files N] [--runs R]\n");
      return 2;
    }
  }
  if (files == 0 || runs < 1)
    return 2;
  int rc = escrow_init();
  if (rc != 0)
    die("escrow_init", rc);
  escrow_cek *cek = NULL;
  if ((rc = escrow_cek_generate(&cek)) != 0)
    die("escrow_cek_generate", rc);
  /* Plaintexts: one 4 KiB pattern; file i uses its first 1024..4096 bytes. */
  uint8_t plain[4096];
  for (size_t i = 0; i < sizeof plain; i++)
    plain[i] = (uint8_t)(i * 31 + 7);
  size_t *sizes = malloc(files * sizeof *sizes);
  char (*paths)[96] = malloc(files * sizeof *paths);
  uint8_t *out = malloc(8192);
  if (sizes == NULL || paths == NULL || out == NULL)
    return 2;
  uint32_t x = 12345;
  uint64_t bytes = 0;
  for (size_t i = 0; i < files; i++) {
    x = x * 1103515245u + 12345u;
    sizes[i] = 1024 + (x >> 8) % 3073;
    bytes += sizes[i];
    snprintf(paths[i], sizeof paths[i], "images/batch-%03zu/img-%06zu.png", i / 1000, i);
  }
  double best_wall = 1e30, best_cpu = 1e30;
  for (int r = 0; r < runs; r++) {
    double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    escrow__manifest_builder *b = NULL;
    if ((rc = escrow__manifest_builder_new(&b, "bench")) != 0)
      die("manifest builder", rc);
    for (size_t i = 0; i < files; i++) {
      escrow_encrypt_options eo = ESCROW_ENCRYPT_OPTIONS_INIT;
      eo.context.project_id = "6f1c2d3e-bench-project";
      eo.context.role = "ds";
      eo.context.asset = "dataset-1@v1";
      eo.context.path = paths[i];
      eo.context.key_id = "wcek-v1";
      escrow_encryptor *e = NULL;
      size_t w1 = 0, w2 = 0;
      if ((rc = escrow_encryptor_new(&e, cek, &eo)) != 0)
        die("escrow_encryptor_new", rc);
      if ((rc = escrow_encryptor_update(e, out, 8192, &w1, plain, sizes[i])) != 0)
        die("escrow_encryptor_update", rc);
      if ((rc = escrow_encryptor_final(e, out + w1, 8192 - w1, &w2)) != 0)
        die("escrow_encryptor_final", rc);
      rc = escrow__manifest_builder_add(b, paths[i], escrow_encryptor_plaintext_size(e),
                                        escrow_header_hdrtag(escrow_encryptor_header(e)));
      if (rc != 0)
        die("manifest add", rc);
      escrow_encryptor_free(e);
    }
    uint8_t *sealed = NULL;
    size_t sl = 0;
    if ((rc = escrow__manifest_builder_seal(b, cek, NULL, &sealed, &sl)) != 0)
      die("manifest seal", rc);
    double wall = now(CLOCK_MONOTONIC) - w0, cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    escrow__free(sealed);
    escrow__manifest_builder_free(b);
    if (wall < best_wall)
      best_wall = wall;
    if (cpu < best_cpu)
      best_cpu = cpu;
  }
  printf("bench_dataset: %zu files of 1-4 KiB (%.1f MiB), encrypt + manifest entry + seal, "
         "in memory, best of %d\n",
         files, (double)bytes / (1 << 20), runs);
  printf("  wall: %.3f s  %.0f files/s\n", best_wall, (double)files / best_wall);
  printf("  cpu:  %.3f s  %.0f files/s   (goal >= 20000 files/s)\n", best_cpu,
         (double)files / best_cpu);
  printf("reproduce: cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo && "
         "ninja -C build bench_dataset && ./build/bench/bench_dataset --files %zu --runs %d\n",
         files, runs);
  free(sizes);
  free(paths);
  free(out);
  escrow_cek_free(cek);
  return 0;
}
