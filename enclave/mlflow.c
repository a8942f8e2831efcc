/* The MLflow relay: MLFLOW_TRACKING_URI points at the Enclave API, which answers the REST
 * tracking calls a client makes for experiments, runs, metrics, params and tags, and relays
 * them as "source":"mlflow" lines of logs.jsonl. Those lines leave the TEE, so they are an
 * egress channel, bounded here: keys from a small alphabet (at most 250 bytes), metric values
 * re-encoded from the parsed number, params and tags at most 500 bytes, and at most
 * ENC_MLFLOW_MAX_LINES lines per run (docs/SECURITY.md). Nothing is stored beyond the names of
 * experiments and the ids of runs. */
#define _GNU_SOURCE
#include "enclave.h"

#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_tree.h>

int enc_mlflow_key_ok(const char *key) {
  size_t n = key ? strlen(key) : 0;
  if (n == 0 || n > ENC_MLFLOW_MAX_KEY) return 0;
  for (const char *p = key; *p; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-' || c == '.' || c == ' ' || c == '/'))
      return 0;
  }
  return 1;
}

int enc_log_mlflow(enc_log *l, size_t *lines, size_t *dropped, const char *kind,
                   const char *members) {
  struct timespec ts;
  struct tm tm;
  char base[24], when[40], *line = NULL;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when, sizeof(when), "%.20s.%03dZ", base, (int)(ts.tv_nsec / 1000000) % 1000);
  int kept = 0;
  pthread_mutex_lock(&l->mu);
  if (*lines >= ENC_MLFLOW_MAX_LINES) {
    ++*dropped;
  } else if (asprintf(&line,
                      "{\"time\":\"%s\",\"source\":\"mlflow\",\"stage\":\"Run\",\"kind\":\"%s\"%s,"
                      "\"simulated_tee\":true}\n",
                      when, kind, members) >= 0) {
    ++*lines;
    kept = 1;
    if (l->fd >= 0) {
      size_t n = strlen(line);
      const char *p = line;
      while (n) {
        ssize_t w = write(l->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        p += w;
        n -= (size_t)w;
      }
    }
    free(line);
    line = NULL;
    if (*lines == ENC_MLFLOW_MAX_LINES &&
        asprintf(&line,
                 "{\"time\":\"%s\",\"source\":\"platform\",\"stage\":\"Run\",\"message\":\"MLflow "
                 "lines capped at %d: later metrics, params and tags are dropped\","
                 "\"simulated_tee\":true}\n",
                 when, ENC_MLFLOW_MAX_LINES) >= 0) {
      if (l->fd >= 0 && write(l->fd, line, strlen(line)) < 0) { /* best effort */
      }
      free(line);
    }
  }
  pthread_mutex_unlock(&l->mu);
  return kept;
}

/* ---- answers ------------------------------------------------------------------------------ */

static int mlerr(struct MHD_Connection *c, unsigned code, const char *error_code, const char *msg) {
  char *m = enc_json_str(msg, strlen(msg)), *out = NULL;
  int r = MHD_NO;
  if (m && asprintf(&out, "{\"error_code\":\"%s\",\"message\":%s}", error_code, m) >= 0) {
    r = enc_reply(c, code, out);
    free(out);
  }
  free(m);
  return r;
}
#define BAD(msg) mlerr(c, 400, "INVALID_PARAMETER_VALUE", msg)

static yajl_val member(yajl_val o, const char *key, yajl_type t) {
  const char *path[] = {key, NULL};
  return o ? yajl_tree_get(o, path, t) : NULL;
}
static const char *mstr(yajl_val o, const char *key) {
  yajl_val v = member(o, key, yajl_t_string);
  return v ? v->u.string : NULL;
}

/* an integer member (absent: def); -1 when present but not an integer */
static int mint(yajl_val o, const char *key, long long def, long long *out) {
  yajl_val v = member(o, key, yajl_t_any);
  *out = def;
  if (!v) return 0;
  if (YAJL_IS_INTEGER(v)) { *out = YAJL_GET_INTEGER(v); return 0; }
  if (YAJL_IS_STRING(v)) { /* the protobuf JSON mapping writes int64 as strings */
    char *e;
    errno = 0;
    long long x = strtoll(v->u.string, &e, 10);
    if (errno || *e || e == v->u.string) return -1;
    *out = x;
    return 0;
  }
  return -1;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* the run named by run_id (or run_uuid) of body o, or NULL */
static const char *known_run(enc_api *api, yajl_val o) {
  const char *id = mstr(o, "run_id");
  if (!id) id = mstr(o, "run_uuid");
  if (!id) return NULL;
  const char *hit = NULL;
  pthread_mutex_lock(&api->mu);
  for (size_t i = 0; i < api->mlflow_runs && !hit; i++)
    if (!strcmp(api->mlflow_run_ids[i], id)) hit = api->mlflow_run_ids[i];
  pthread_mutex_unlock(&api->mu);
  return hit;
}

static int relay(enc_api *api, const char *kind, const char *members) {
  pthread_mutex_lock(&api->mu); /* the counters live in api, the lock order is api then log */
  int k = enc_log_mlflow(api->log, &api->mlflow_lines, &api->mlflow_dropped, kind, members);
  pthread_mutex_unlock(&api->mu);
  return k;
}

/* checks of one metric / param / tag; 0 ok, else an answer was not sent and *why says why */
static const char *metric_members(const char *run, yajl_val m, char **members) {
  const char *key = mstr(m, "key");
  yajl_val v = member(m, "value", yajl_t_any);
  long long step, stamp;
  *members = NULL;
  if (!enc_mlflow_key_ok(key)) return "a metric key is 1 to 250 letters, digits, _ - . / or spaces";
  if (!v || !YAJL_IS_NUMBER(v) || !isfinite(YAJL_GET_DOUBLE(v))) return "a metric value is a finite number";
  if (mint(m, "step", 0, &step) != 0 || mint(m, "timestamp", now_ms(), &stamp) != 0)
    return "step and timestamp are integers";
  /* the value leaves re-encoded from the parsed number, never as the text the algorithm sent */
  double d = YAJL_GET_DOUBLE(v);
  char num[40];
  snprintf(num, sizeof(num), "%.15g", d);
  if (strtod(num, NULL) != d) snprintf(num, sizeof(num), "%.17g", d);
  if (asprintf(members, ",\"run_id\":\"%s\",\"key\":\"%s\",\"value\":%s,\"step\":%lld,"
                        "\"timestamp\":%lld", run, key, num, step, stamp) < 0) {
    *members = NULL;
    return "out of memory";
  }
  return NULL;
}

static const char *kv_members(const char *run, yajl_val m, char **members) {
  const char *key = mstr(m, "key"), *value = mstr(m, "value");
  *members = NULL;
  if (!enc_mlflow_key_ok(key)) return "a key is 1 to 250 letters, digits, _ - . / or spaces";
  if (!value) return "a value is a string";
  if (strlen(value) > ENC_MLFLOW_MAX_VALUE) return "a param or tag value is at most 500 bytes";
  char *v = enc_json_str(value, strlen(value));
  if (!v || asprintf(members, ",\"run_id\":\"%s\",\"key\":\"%s\",\"value\":%s", run, key, v) < 0) {
    free(v);
    *members = NULL;
    return "out of memory";
  }
  free(v);
  return NULL;
}

static int run_json(char **out, const char *run, const char *exp, const char *status,
                    long long start, long long end) {
  char endbuf[40] = "";
  if (end > 0) snprintf(endbuf, sizeof(endbuf), ",\"end_time\":%lld", end);
  return asprintf(out,
                  "{\"run_id\":\"%s\",\"run_uuid\":\"%s\",\"experiment_id\":\"%s\",\"user_id\":"
                  "\"algorithm\",\"status\":\"%s\",\"start_time\":%lld%s,\"artifact_uri\":"
                  "\"mlflow-artifacts:/not-supported\",\"lifecycle_stage\":\"active\"}",
                  run, run, exp, status, start, endbuf);
}

static int exp_json(char **out, enc_api *api, size_t id) {
  char *n = enc_json_str(api->mlflow_experiments[id], strlen(api->mlflow_experiments[id]));
  int r = n ? asprintf(out,
                       "{\"experiment\":{\"experiment_id\":\"%zu\",\"name\":%s,\"artifact_location\":"
                       "\"mlflow-artifacts:/not-supported\",\"lifecycle_stage\":\"active\"}}",
                       id, n)
            : -1;
  free(n);
  return r;
}

/* the experiment list starts with MLflow's "Default" (id 0) */
static void ensure_default(enc_api *api) {
  if (api->mlflow_n_experiments == 0) {
    api->mlflow_experiments[0] = strdup("Default");
    if (api->mlflow_experiments[0]) api->mlflow_n_experiments = 1;
  }
}

static int ok_empty(struct MHD_Connection *c) { return enc_reply(c, 200, "{}"); }

int enc_mlflow_handle(enc_api *api, struct MHD_Connection *c, const char *url, const char *method,
                      const char *body) {
  const char *op = url + strlen("/api/2.0/mlflow/");
  int is_post = !strcmp(method, "POST"), is_get = !strcmp(method, "GET");
  char ebuf[64];
  yajl_val o = NULL;
  if (is_post) {
    o = yajl_tree_parse(body, ebuf, sizeof(ebuf));
    if (!o || !YAJL_IS_OBJECT(o)) {
      if (o) yajl_tree_free(o);
      return mlerr(c, 400, "MALFORMED_REQUEST", "expected a JSON object");
    }
  }
  int r;
  char *out = NULL, *mem = NULL;
  const char *why = NULL;

  if (is_get && (!strcmp(op, "experiments/get-by-name") || !strcmp(op, "experiments/get"))) {
    int by_name = !strcmp(op, "experiments/get-by-name");
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
                                                by_name ? "experiment_name" : "experiment_id");
    size_t hit = SIZE_MAX;
    pthread_mutex_lock(&api->mu);
    ensure_default(api);
    for (size_t i = 0; q && i < api->mlflow_n_experiments && hit == SIZE_MAX; i++) {
      char id[24];
      snprintf(id, sizeof(id), "%zu", i);
      if (!strcmp(by_name ? api->mlflow_experiments[i] : id, q)) hit = i;
    }
    int jr = hit != SIZE_MAX ? exp_json(&out, api, hit) : 0;
    pthread_mutex_unlock(&api->mu);
    if (hit == SIZE_MAX) return mlerr(c, 404, "RESOURCE_DOES_NOT_EXIST", "no such experiment");
    if (jr < 0) return MHD_NO;
    r = enc_reply(c, 200, out);
    free(out);
    return r;
  }
  if (is_get && !strcmp(op, "runs/get")) { /* what MlflowClient.get_run asks; nothing is relayed */
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "run_id");
    if (!q) q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "run_uuid");
    const char *hit = NULL;
    pthread_mutex_lock(&api->mu);
    for (size_t i = 0; q && i < api->mlflow_runs && !hit; i++)
      if (!strcmp(api->mlflow_run_ids[i], q)) hit = api->mlflow_run_ids[i];
    pthread_mutex_unlock(&api->mu);
    if (!hit) return mlerr(c, 404, "RESOURCE_DOES_NOT_EXIST", "no such run");
    char *info = NULL;
    if (run_json(&info, hit, "0", "RUNNING", 0, 0) < 0) return MHD_NO;
    r = asprintf(&out, "{\"run\":{\"info\":%s,\"data\":{}}}", info) < 0 ? MHD_NO : enc_reply(c, 200, out);
    free(info);
    free(out);
    return r;
  }
  if (!is_post) return mlerr(c, 404, "ENDPOINT_NOT_FOUND", "this MLflow call is not relayed");

  if (!strcmp(op, "experiments/create")) {
    const char *name = mstr(o, "name");
    if (!name || !*name || strlen(name) > ENC_MLFLOW_MAX_KEY) {
      r = BAD("an experiment name is 1 to 250 bytes");
      goto end;
    }
    size_t id = SIZE_MAX;
    int exists = 0, full = 0;
    pthread_mutex_lock(&api->mu);
    ensure_default(api);
    for (size_t i = 0; i < api->mlflow_n_experiments; i++)
      if (!strcmp(api->mlflow_experiments[i], name)) exists = 1;
    if (!exists && api->mlflow_n_experiments >= ENC_MLFLOW_MAX_EXPERIMENTS) full = 1;
    if (!exists && !full && (api->mlflow_experiments[api->mlflow_n_experiments] = strdup(name)))
      id = api->mlflow_n_experiments++;
    pthread_mutex_unlock(&api->mu);
    if (exists) { r = mlerr(c, 400, "RESOURCE_ALREADY_EXISTS", "the experiment exists"); goto end; }
    if (full) { r = mlerr(c, 400, "RESOURCE_LIMIT_EXCEEDED", "at most 100 experiments per run"); goto end; }
    if (id == SIZE_MAX) { r = MHD_NO; goto end; }
    char *n = enc_json_str(name, strlen(name));
    if (n && asprintf(&mem, ",\"experiment_id\":\"%zu\",\"name\":%s", id, n) >= 0) relay(api, "experiment", mem);
    free(n);
    char idj[64];
    snprintf(idj, sizeof(idj), "{\"experiment_id\":\"%zu\"}", id);
    r = enc_reply(c, 200, idj);
    goto end;
  }
  if (!strcmp(op, "runs/create")) {
    const char *exp = mstr(o, "experiment_id");
    long long start, expnum;
    char expbuf[24];
    if (!exp && mint(o, "experiment_id", 0, &expnum) == 0) { /* also as a number */
      snprintf(expbuf, sizeof(expbuf), "%lld", expnum);
      exp = expbuf;
    }
    if (!exp) exp = "0";
    if (mint(o, "start_time", now_ms(), &start) != 0) { r = BAD("start_time is an integer"); goto end; }
    char expid[24] = "";
    char id[33];
    unsigned char rnd[16];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) { r = mlerr(c, 500, "INTERNAL_ERROR", "no randomness"); goto end; }
    for (int i = 0; i < 16; i++) snprintf(id + 2 * i, 3, "%02x", rnd[i]);
    int full = 0, found = 0;
    pthread_mutex_lock(&api->mu);
    ensure_default(api);
    for (size_t i = 0; i < api->mlflow_n_experiments; i++) {
      snprintf(expid, sizeof(expid), "%zu", i);
      if (!strcmp(expid, exp)) { found = 1; break; }
    }
    if (found && !api->mlflow_run_ids)
      api->mlflow_run_ids = calloc(ENC_MLFLOW_MAX_RUNS, sizeof(*api->mlflow_run_ids));
    if (found && (!api->mlflow_run_ids || api->mlflow_runs >= ENC_MLFLOW_MAX_RUNS)) full = 1;
    else if (found) memcpy(api->mlflow_run_ids[api->mlflow_runs++], id, 33);
    pthread_mutex_unlock(&api->mu);
    if (!found) { r = mlerr(c, 404, "RESOURCE_DOES_NOT_EXIST", "no such experiment"); goto end; }
    if (full) { r = mlerr(c, 400, "RESOURCE_LIMIT_EXCEEDED", "at most 1000 MLflow runs per run"); goto end; }
    const char *rn = mstr(o, "run_name");
    char *rnj = rn && strlen(rn) <= ENC_MLFLOW_MAX_KEY ? enc_json_str(rn, strlen(rn)) : NULL;
    if (asprintf(&mem, ",\"run_id\":\"%s\",\"experiment_id\":\"%s\"%s%s", id, expid,
                 rnj ? ",\"run_name\":" : "", rnj ? rnj : "") >= 0)
      relay(api, "run", mem);
    char *info = NULL;
    if (run_json(&info, id, expid, "RUNNING", start, 0) < 0 ||
        asprintf(&out, "{\"run\":{\"info\":%s,\"data\":{}}}", info) < 0) {
      free(info);
      free(rnj);
      out = NULL;
      r = MHD_NO;
      goto end;
    }
    free(info);
    free(rnj);
    r = enc_reply(c, 200, out);
    goto end;
  }

  /* the calls below name a run created in this run */
  const char *run = known_run(api, o);
  if (!strcmp(op, "runs/log-metric") || !strcmp(op, "runs/log-parameter") ||
      !strcmp(op, "runs/set-tag") || !strcmp(op, "runs/log-batch") || !strcmp(op, "runs/update")) {
    if (!run) { r = mlerr(c, 404, "RESOURCE_DOES_NOT_EXIST", "no such run"); goto end; }
  } else {
    r = mlerr(c, 404, "ENDPOINT_NOT_FOUND", "this MLflow call is not relayed");
    goto end;
  }
  if (!strcmp(op, "runs/log-metric")) {
    if ((why = metric_members(run, o, &mem))) { r = BAD(why); goto end; }
    relay(api, "metric", mem);
    r = ok_empty(c);
  } else if (!strcmp(op, "runs/log-parameter") || !strcmp(op, "runs/set-tag")) {
    if ((why = kv_members(run, o, &mem))) { r = BAD(why); goto end; }
    relay(api, !strcmp(op, "runs/set-tag") ? "tag" : "param", mem);
    r = ok_empty(c);
  } else if (!strcmp(op, "runs/log-batch")) {
    static const char *const lists[] = {"metrics", "params", "tags"};
    static const char *const kinds[] = {"metric", "param", "tag"};
    yajl_val arr[3];
    size_t total = 0;
    for (int i = 0; i < 3; i++) {
      yajl_val v = member(o, lists[i], yajl_t_any);
      if (v && !YAJL_IS_ARRAY(v)) { r = BAD("metrics, params and tags are lists"); goto end; }
      arr[i] = v;
      total += v ? v->u.array.len : 0;
    }
    if (total > ENC_MLFLOW_MAX_BATCH) { r = BAD("at most 1000 metrics, params and tags in one batch"); goto end; }
    /* check everything first: a batch is relayed whole or not at all */
    for (int i = 0; i < 3 && !why; i++)
      for (size_t j = 0; arr[i] && j < arr[i]->u.array.len && !why; j++) {
        yajl_val m = arr[i]->u.array.values[j];
        why = YAJL_IS_OBJECT(m) ? (i == 0 ? metric_members(run, m, &mem) : kv_members(run, m, &mem))
                                : "each item is an object";
        free(mem);
        mem = NULL;
      }
    if (why) { r = BAD(why); goto end; }
    for (int i = 0; i < 3; i++)
      for (size_t j = 0; arr[i] && j < arr[i]->u.array.len; j++) {
        yajl_val m = arr[i]->u.array.values[j];
        if (!(i == 0 ? metric_members(run, m, &mem) : kv_members(run, m, &mem))) relay(api, kinds[i], mem);
        free(mem);
        mem = NULL;
      }
    r = ok_empty(c);
  } else { /* runs/update */
    static const char *const states[] = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED", NULL};
    const char *st = mstr(o, "status");
    long long end_time;
    size_t i = 0;
    if (st)
      for (; states[i] && strcmp(states[i], st); i++) {
      }
    if (st && !states[i]) { r = BAD("status is RUNNING, SCHEDULED, FINISHED, FAILED or KILLED"); goto end; }
    if (mint(o, "end_time", 0, &end_time) != 0) { r = BAD("end_time is an integer"); goto end; }
    if (asprintf(&mem, ",\"run_id\":\"%s\",\"status\":\"%s\"", run, st ? states[i] : "RUNNING") >= 0)
      relay(api, "run_status", mem);
    char *info = NULL;
    if (run_json(&info, run, "0", st ? states[i] : "RUNNING", 0, end_time) < 0 ||
        asprintf(&out, "{\"run_info\":%s}", info) < 0) {
      free(info);
      out = NULL;
      r = MHD_NO;
      goto end;
    }
    free(info);
    r = enc_reply(c, 200, out);
  }
end:
  free(out);
  free(mem);
  if (o) yajl_tree_free(o);
  return r;
}
