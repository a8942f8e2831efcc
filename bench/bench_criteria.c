/*
 * Benchmark of the validation-criteria engine (bench/CRITERIA.md).
 *
 *   bench_criteria [CORPUS.jsonl] [SECONDS]       run from the repository root
 *
 * 1. Throughput: every corpus case that Cerberus and escrow both accept is validated in a loop
 *    (parse the document text, validate, render the error tree), by escrow and by Cerberus
 *    (bench/bench_criteria_cerberus.py under /usr/bin/python3) in the same run; prints both
 *    rates and their ratio (goal: >= 50x).
 * 2. The same for the manual's criteria (§14.6.2) and a typical report.
 * 3. Memory: a 10 MB report (per-sample predictions) parsed from its file in chunks and
 *    validated in a child process; prints the peak RSS growth as a multiple of the file size
 *    (goal: <= 4x).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "criteria_internal.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct item {
  escrow_criteria *c;
  char *doc;
  size_t len;
} item;

static double run_escrow(item *it, size_t n, double seconds, unsigned long *docs) {
  unsigned long done = 0;
  double start = now(), el;
  do {
    for (size_t i = 0; i < n; i++) {
      int valid;
      char *errs = NULL;
      if (escrow_criteria_validate(it[i].c, it[i].doc, it[i].len, &valid, &errs) == 0)
        escrow_free(errs);
    }
    done += n;
    el = now() - start;
  } while (el < seconds);
  *docs = done;
  return (double)done / el;
}

static double run_cerberus(const char *corpus, double seconds) {
  char cmd[1024];
  snprintf(cmd, sizeof(cmd), "/usr/bin/python3 bench/bench_criteria_cerberus.py '%s' %.1f",
           corpus, seconds);
  FILE *f = popen(cmd, "r");
  if (!f)
    return 0;
  char line[512] = {0};
  if (!fgets(line, sizeof(line), f))
    line[0] = 0;
  pclose(f);
  const char *p = strstr(line, "\"docs_per_sec\":");
  return p ? strtod(p + 15, NULL) : 0;
}

static char *to_json(const cv *v, size_t *len) {
  cr_buf b = {0};
  cr_buf_json_value(&b, v);
  *len = b.len;
  return b.p;
}

/* Load the corpus cases escrow compiles and answers without an exception; write the same
 * cases to keep_path for the Cerberus side (which also drops those it cannot answer). */
static size_t load(const char *corpus, const char *keep_path, item **out) {
  size_t len = 0;
  uint8_t *text = NULL;
  if (escrow__read_file(corpus, 64u << 20, false, &text, &len) != 0) {
    fprintf(stderr, "cannot read %s: %s\n", corpus, escrow_error_last());
    exit(2);
  }
  FILE *keep = fopen(keep_path, "w");
  item *items = NULL;
  size_t n = 0, cap = 0;
  char *save = NULL;
  for (char *line = strtok_r((char *)text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    cr_arena a;
    cr_arena_init(&a);
    cr_parse_limits lim = {64, 1u << 26, 4300};
    cv *root;
    if (cr_parse(&a, line, strlen(line), &lim, "line", &root) == 0) {
      const cv *s = cr_dict_gets(root, "schema"), *d = cr_dict_gets(root, "document");
      const cv *o = cr_dict_gets(root, "options");
      escrow_criteria_options opts = ESCROW_CRITERIA_OPTIONS_INIT;
      const cv *au = o ? cr_dict_gets(o, "allow_unknown") : NULL;
      const cv *ra = o ? cr_dict_gets(o, "require_all") : NULL;
      opts.allow_unknown = au && au->kind == CV_BOOL && au->u.i;
      opts.require_all = ra && ra->kind == CV_BOOL && ra->u.i;
      size_t sl, dl;
      char *st = s ? to_json(s, &sl) : NULL;
      char *dt = d ? to_json(d, &dl) : NULL;
      escrow_criteria *c = NULL;
      int valid;
      char *errs = NULL;
      if (st && dt && d->kind == CV_DICT &&
          escrow_criteria_compile(&c, st, sl, &opts, NULL) == 0 &&
          escrow_criteria_validate(c, dt, dl, &valid, &errs) == 0) {
        escrow_free(errs);
        if (n == cap) {
          cap = cap ? cap * 2 : 64;
          items = realloc(items, cap * sizeof(*items));
        }
        items[n].c = c;
        items[n].doc = dt;
        items[n].len = dl;
        n++;
        dt = NULL;
        c = NULL;
        if (keep)
          fprintf(keep, "%s\n", line);
      }
      escrow_criteria_free(c);
      escrow__free(st);
      escrow__free(dt);
    }
    cr_arena_free(&a);
  }
  if (keep)
    fclose(keep);
  escrow__free(text);
  *out = items;
  return n;
}

static void free_items(item *it, size_t n) {
  for (size_t i = 0; i < n; i++) {
    escrow_criteria_free(it[i].c);
    escrow__free(it[i].doc);
  }
  free(it);
}

static const char *MANUAL =
    "{\"report\":{\"type\":\"dict\",\"schema\":{\"accuracy\":{\"type\":\"dict\",\"schema\":{"
    "\"value\":{\"type\":\"float\",\"min\":0,\"max\":1},\"CI\":{\"type\":\"float\",\"min\":0,"
    "\"max\":1},\"n\":{\"type\":\"integer\",\"min\":1}}},\"specificity\":{\"type\":\"dict\","
    "\"schema\":{\"value\":{\"type\":\"float\",\"min\":0,\"max\":1},\"CI\":{\"type\":\"float\","
    "\"min\":0,\"max\":1},\"n\":{\"type\":\"integer\",\"min\":1}}},\"sensitivity\":{\"type\":"
    "\"dict\",\"schema\":{\"value\":{\"type\":\"float\",\"min\":0,\"max\":1},\"CI\":{\"type\":"
    "\"float\",\"min\":0,\"max\":1},\"n\":{\"type\":\"integer\",\"min\":1}}}}}}";

static void memory_test(void) {
  const char *path = "/tmp/escrow_bench_criteria_10mb.json";
  FILE *f = fopen(path, "w");
  if (!f)
    return;
  fputs("{\"report\":{\"model\":\"resnet\",\"predictions\":[", f);
  long i = 0;
  while (ftell(f) < 10L * 1000 * 1000) {
    fprintf(f, "%s{\"id\":%ld,\"score\":%.6f,\"label\":\"%s\"}", i ? "," : "", i,
            (double)(i % 1000) / 1000.0, (i % 3) ? "neg" : "pos");
    i++;
  }
  fputs("]}}", f);
  long size = ftell(f);
  fclose(f);
  const char *schema =
      "{\"report\":{\"type\":\"dict\",\"schema\":{\"model\":{\"type\":\"string\",\"maxlength\":"
      "32},\"predictions\":{\"type\":\"list\",\"schema\":{\"type\":\"dict\",\"schema\":{\"id\":"
      "{\"type\":\"integer\",\"min\":0},\"score\":{\"type\":\"float\",\"min\":0,\"max\":1},"
      "\"label\":{\"type\":\"string\",\"allowed\":[\"pos\",\"neg\"]}}}}}}}";
  int fds[2];
  if (pipe(fds) != 0)
    return;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    escrow_criteria *c = NULL;
    if (escrow_criteria_compile(&c, schema, strlen(schema), NULL, NULL) != 0)
      _exit(3);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long before = ru.ru_maxrss;
    double t0 = now();
    escrow_criteria_doc *d = NULL;
    if (escrow_criteria_doc_parse_file(&d, path, NULL) != 0)
      _exit(4);
    int valid = 0;
    char *errs = NULL;
    if (escrow_criteria_validate_doc(c, d, &valid, &errs) != 0)
      _exit(5);
    double t1 = now();
    getrusage(RUSAGE_SELF, &ru);
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "%ld %ld %d %.3f", before, ru.ru_maxrss, valid, t1 - t0);
    if (write(fds[1], msg, (size_t)n) < 0)
      _exit(6);
    _exit(0);
  }
  close(fds[1]);
  char buf[256] = {0};
  ssize_t got = read(fds[0], buf, sizeof(buf) - 1);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  long before = 0, after = 0;
  int valid = 0;
  double secs = 0;
  if (got <= 0 || sscanf(buf, "%ld %ld %d %lf", &before, &after, &valid, &secs) != 4) {
    printf("memory: the child failed (status %d)\n", status);
    return;
  }
  double peak = (double)(after - before) * 1024.0;
  printf("10 MB report: %ld bytes, %ld records, valid=%d, parse+validate %.3f s, peak RSS growth "
         "%.1f MB = %.2fx the file (goal <= 4x)\n",
         size, i, valid, secs, peak / 1e6, peak / (double)size);
  unlink(path);
}

int main(int argc, char **argv) {
  const char *corpus = argc > 1 ? argv[1] : "tests/vectors/criteria/cases.jsonl";
  double seconds = argc > 2 ? atof(argv[2]) : 3.0;
  const char *keep = "/tmp/escrow_bench_criteria_corpus.jsonl";
  item *items = NULL;
  size_t n = load(corpus, keep, &items);
  unsigned long docs;
  double mine = run_escrow(items, n, seconds, &docs);
  double theirs = run_cerberus(keep, seconds);
  printf("command: %s %s %.1f\n", argv[0], corpus, seconds);
  printf("corpus (%zu cases): escrow %.0f docs/s, Cerberus 1.3 %.0f docs/s, ratio %.1fx "
         "(goal >= 50x)\n",
         n, mine, theirs, theirs > 0 ? mine / theirs : 0.0);
  free_items(items, n);

  /* the manual's criteria with a typical report */
  FILE *f = fopen(keep, "w");
  const char *doc = "{\"report\":{\"accuracy\":{\"value\":0.93,\"CI\":0.02,\"n\":1200},"
                    "\"specificity\":{\"value\":0.91,\"CI\":0.03,\"n\":1200},\"sensitivity\":"
                    "{\"value\":0.88,\"CI\":0.04,\"n\":1200}}}";
  if (f) {
    fprintf(f, "{\"schema\":%s,\"document\":%s}\n", MANUAL, doc);
    fclose(f);
  }
  item one;
  if (escrow_criteria_compile(&one.c, MANUAL, strlen(MANUAL), NULL, NULL) == 0) {
    one.doc = escrow__strdup(doc);
    one.len = strlen(doc);
    mine = run_escrow(&one, 1, seconds, &docs);
    theirs = run_cerberus(keep, seconds);
    printf("manual criteria, typical report: escrow %.0f docs/s, Cerberus 1.3 %.0f docs/s, "
           "ratio %.1fx\n",
           mine, theirs, theirs > 0 ? mine / theirs : 0.0);
    escrow_criteria_free(one.c);
    escrow__free(one.doc);
  }
  unlink(keep);
  memory_test();
  return 0;
}
