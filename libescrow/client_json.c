/*
 * libescrow client: the JSON answers of the Platform and Enclave APIs, parsed into the typed
 * results of include/escrow/client.h. Fields a result types but the answer lacks stay NULL/-1;
 * a field of the wrong JSON type is an ESCROW_E_FORMAT error naming it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "client_internal.h"

/* ---- parsing and walking ---------------------------------------------------------------------- */

/* yajl_tree builds and frees recursively: refuse deep nesting before it sees the text. */
static int depth_ok(const char *s, size_t n) {
  int depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = false;
    } else if (c == '"') {
      in_str = true;
    } else if (c == '[' || c == '{') {
      if (++depth > ESCROW__CLIENT_JSON_DEPTH)
        return 0;
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return 1;
}

int escrow__cjson_parse(const char *text, size_t len, const char *what, yajl_val *out) {
  *out = NULL;
  if (!text || strlen(text) != len)
    return escrow__err(ESCROW_E_FORMAT, "%s is not JSON (it holds a NUL byte)", what);
  if (!depth_ok(text, len))
    return escrow__err(ESCROW_E_FORMAT, "%s nests deeper than %d levels", what,
                       ESCROW__CLIENT_JSON_DEPTH);
  char err[128] = "";
  yajl_val v = yajl_tree_parse(text, err, sizeof err);
  if (!v) {
    for (char *p = err; *p; p++)
      if ((unsigned char)*p < 0x20)
        *p = ' ';
    return escrow__err(ESCROW_E_FORMAT, "%s is not JSON: %.100s", what,
                       err[0] ? err : "parse error");
  }
  *out = v;
  return 0;
}

yajl_val escrow__cjson_get(yajl_val v, const char *key) {
  if (!YAJL_IS_OBJECT(v))
    return NULL;
  yajl_val found = NULL;
  for (size_t i = 0; i < v->u.object.len; i++)
    if (strcmp(v->u.object.keys[i], key) == 0)
      found = v->u.object.values[i]; /* the last of duplicates, as Python's json */
  return found;
}

void escrow__cjson_str(escrow__sb *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  escrow__sb_addc(b, '"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      escrow__sb_addc(b, '\\');
      escrow__sb_addc(b, (char)*p);
    } else if (*p < 0x20) {
      char e[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
      escrow__sb_adds(b, e);
    } else {
      escrow__sb_addc(b, (char)*p);
    }
  }
  escrow__sb_addc(b, '"');
}

static void dump(escrow__sb *b, yajl_val v) {
  if (!v || YAJL_IS_NULL(v)) {
    escrow__sb_adds(b, "null");
  } else if (YAJL_IS_TRUE(v)) {
    escrow__sb_adds(b, "true");
  } else if (YAJL_IS_FALSE(v)) {
    escrow__sb_adds(b, "false");
  } else if (YAJL_IS_NUMBER(v)) {
    escrow__sb_adds(b, v->u.number.r);
  } else if (YAJL_IS_STRING(v)) {
    escrow__cjson_str(b, v->u.string);
  } else if (YAJL_IS_ARRAY(v)) {
    escrow__sb_addc(b, '[');
    for (size_t i = 0; i < v->u.array.len; i++) {
      if (i)
        escrow__sb_addc(b, ',');
      dump(b, v->u.array.values[i]);
    }
    escrow__sb_addc(b, ']');
  } else if (YAJL_IS_OBJECT(v)) {
    escrow__sb_addc(b, '{');
    for (size_t i = 0; i < v->u.object.len; i++) {
      if (i)
        escrow__sb_addc(b, ',');
      escrow__cjson_str(b, v->u.object.keys[i]);
      escrow__sb_addc(b, ':');
      dump(b, v->u.object.values[i]);
    }
    escrow__sb_addc(b, '}');
  }
}

char *escrow__cjson_dump(yajl_val v) {
  escrow__sb b = {0};
  dump(&b, v);
  if (b.oom) {
    escrow__sb_free(&b);
    return NULL;
  }
  return b.s;
}

/* Field readers: 0, or ESCROW_E_FORMAT/ESCROW_E_NOMEM (recorded). */
static int get_str(yajl_val o, const char *key, char **dst) {
  yajl_val v = escrow__cjson_get(o, key);
  if (!v || YAJL_IS_NULL(v))
    return 0;
  if (!YAJL_IS_STRING(v))
    return escrow__err(ESCROW_E_FORMAT, "the answer's \"%s\" is not a string", key);
  *dst = escrow__strdup(v->u.string);
  return *dst ? 0 : escrow__err_nomem();
}

static int get_int(yajl_val o, const char *key, int64_t *dst) {
  *dst = -1;
  yajl_val v = escrow__cjson_get(o, key);
  if (!v || YAJL_IS_NULL(v))
    return 0;
  if (YAJL_IS_INTEGER(v)) {
    *dst = v->u.number.i;
    return 0;
  }
  if (YAJL_IS_STRING(v)) { /* "3": some answers carry numbers as text */
    char *end = NULL;
    long long n = strtoll(v->u.string, &end, 10);
    if (*v->u.string && end && !*end) {
      *dst = n;
      return 0;
    }
  }
  return escrow__err(ESCROW_E_FORMAT, "the answer's \"%s\" is not an integer", key);
}

static int get_bool(yajl_val o, const char *key, int *dst) {
  *dst = -1;
  yajl_val v = escrow__cjson_get(o, key);
  if (!v || YAJL_IS_NULL(v))
    return 0;
  if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
    *dst = YAJL_IS_TRUE(v) ? 1 : 0;
    return 0;
  }
  return escrow__err(ESCROW_E_FORMAT, "the answer's \"%s\" is not true or false", key);
}

/* Any JSON value of o[key] as JSON text (NULL when absent). */
static int get_json(yajl_val o, const char *key, char **dst) {
  yajl_val v = escrow__cjson_get(o, key);
  if (!v)
    return 0;
  *dst = escrow__cjson_dump(v);
  return *dst ? 0 : escrow__err_nomem();
}

static int top_object(const char *text, size_t len, yajl_val *v) {
  int rc = escrow__cjson_parse(text, len, "the answer", v);
  if (rc)
    return rc;
  if (!YAJL_IS_OBJECT(*v)) {
    yajl_tree_free(*v);
    *v = NULL;
    return escrow__err(ESCROW_E_FORMAT, "the answer is not a JSON object");
  }
  return 0;
}

static char *dup_text(const char *text, size_t len) { return escrow__strndup(text, len); }

/* ---- Platform API -------------------------------------------------------------------------- */

void escrow_api_kek_free(escrow_api_kek *k) {
  if (!k)
    return;
  escrow__free(k->key_content);
  escrow__free(k->file_name);
  escrow__free(k->role);
  escrow__free(k->project_id);
  escrow__free(k->json);
  escrow__free(k);
}

int escrow__parse_kek(const char *text, size_t len, escrow_api_kek **out) {
  *out = NULL;
  yajl_val v;
  int rc = top_object(text, len, &v);
  if (rc)
    return rc;
  escrow_api_kek *k = escrow__calloc(1, sizeof *k);
  if (!k) {
    rc = escrow__err_nomem();
    goto out;
  }
  if ((rc = get_str(v, "key content", &k->key_content)) || (rc = get_str(v, "file_name", &k->file_name)) ||
      (rc = get_str(v, "role", &k->role)) || (rc = get_str(v, "project_id", &k->project_id)))
    goto out;
  if (!k->key_content) {
    rc = escrow__err(ESCROW_E_FORMAT, "the answer has no \"key content\"");
    goto out;
  }
  if (!(k->json = dup_text(text, len)))
    rc = escrow__err_nomem();
out:
  yajl_tree_free(v);
  if (rc)
    escrow_api_kek_free(k);
  else
    *out = k;
  return rc;
}

static void artifact_clear(escrow_api_artifact *a) {
  char **s[] = {&a->id, &a->project_id, &a->artifact_type, &a->role, &a->name, &a->description,
                &a->version_tag, &a->version_description, &a->sha256, &a->file_name,
                &a->details, &a->json};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(s); i++)
    escrow__free(*s[i]);
}

void escrow_api_artifact_free(escrow_api_artifact *a) {
  if (!a)
    return;
  artifact_clear(a);
  escrow__free(a);
}

static int artifact_from(yajl_val v, escrow_api_artifact *a) {
  memset(a, 0, sizeof *a);
  a->system_version = a->created_at = -1;
  if (!YAJL_IS_OBJECT(v))
    return escrow__err(ESCROW_E_FORMAT, "an artifact version is not a JSON object");
  int rc;
  if ((rc = get_str(v, "id", &a->id)) || (rc = get_str(v, "project_id", &a->project_id)) ||
      (rc = get_str(v, "artifact_type", &a->artifact_type)) || (rc = get_str(v, "role", &a->role)) ||
      (rc = get_str(v, "name", &a->name)) || (rc = get_str(v, "description", &a->description)) ||
      (rc = get_str(v, "version_tag", &a->version_tag)) ||
      (rc = get_str(v, "version_description", &a->version_description)) ||
      (rc = get_str(v, "sha256", &a->sha256)) || (rc = get_str(v, "file_name", &a->file_name)) ||
      (rc = get_int(v, "system_version", &a->system_version)) ||
      (rc = get_int(v, "created_at", &a->created_at)) || (rc = get_json(v, "details", &a->details)))
    return rc;
  if (!(a->json = escrow__cjson_dump(v)))
    return escrow__err_nomem();
  return 0;
}

int escrow__parse_artifact(const char *text, size_t len, escrow_api_artifact **out) {
  *out = NULL;
  yajl_val v;
  int rc = top_object(text, len, &v);
  if (rc)
    return rc;
  escrow_api_artifact *a = escrow__calloc(1, sizeof *a);
  if (!a)
    rc = escrow__err_nomem();
  else if (!(rc = artifact_from(v, a)) && !a->id)
    rc = escrow__err(ESCROW_E_FORMAT, "the answer has no \"id\"");
  yajl_tree_free(v);
  if (rc)
    escrow_api_artifact_free(a);
  else
    *out = a;
  return rc;
}

void escrow_api_versions_free(escrow_api_versions *v) {
  if (!v)
    return;
  for (size_t i = 0; i < v->count; i++)
    artifact_clear(&v->items[i]);
  escrow__free(v->items);
  escrow__free(v->project_id);
  escrow__free(v->project_name);
  escrow__free(v->project_state);
  escrow__free(v->role);
  escrow__free(v->json);
  escrow__free(v);
}

int escrow__parse_versions(const char *text, size_t len, escrow_api_versions **out) {
  *out = NULL;
  yajl_val v;
  int rc = top_object(text, len, &v);
  if (rc)
    return rc;
  escrow_api_versions *l = escrow__calloc(1, sizeof *l);
  if (!l) {
    rc = escrow__err_nomem();
    goto out;
  }
  l->simulated_tee = -1;
  yajl_val p = escrow__cjson_get(v, "project");
  if (p && !YAJL_IS_OBJECT(p)) {
    rc = escrow__err(ESCROW_E_FORMAT, "the answer's \"project\" is not an object");
    goto out;
  }
  if (p && ((rc = get_str(p, "id", &l->project_id)) || (rc = get_str(p, "name", &l->project_name)) ||
            (rc = get_str(p, "state", &l->project_state)) ||
            (rc = get_bool(p, "simulated_tee", &l->simulated_tee))))
    goto out;
  if ((rc = get_str(v, "role", &l->role)))
    goto out;
  yajl_val items = escrow__cjson_get(v, "versions");
  if (!YAJL_IS_ARRAY(items)) {
    rc = escrow__err(ESCROW_E_FORMAT, "the answer has no \"versions\" list");
    goto out;
  }
  size_t n = items->u.array.len;
  if (n) {
    l->items = escrow__calloc(n, sizeof *l->items);
    if (!l->items) {
      rc = escrow__err_nomem();
      goto out;
    }
  }
  for (size_t i = 0; i < n; i++) {
    l->count = i + 1; /* so a failure frees what this item got */
    if ((rc = artifact_from(items->u.array.values[i], &l->items[i])))
      goto out;
  }
  if (!(l->json = dup_text(text, len)))
    rc = escrow__err_nomem();
out:
  yajl_tree_free(v);
  if (rc)
    escrow_api_versions_free(l);
  else
    *out = l;
  return rc;
}

void escrow_api_run_free(escrow_api_run *r) {
  if (!r)
    return;
  escrow__free(r->status);
  escrow__free(r->stage);
  escrow__free(r->reason);
  escrow__free(r->json);
  escrow__free(r);
}

int escrow__parse_run(const char *text, size_t len, escrow_api_run **out) {
  *out = NULL;
  yajl_val v;
  int rc = top_object(text, len, &v);
  if (rc)
    return rc;
  escrow_api_run *r = escrow__calloc(1, sizeof *r);
  if (!r) {
    rc = escrow__err_nomem();
    goto out;
  }
  /* the run's fields at the top, or in a "run" object */
  yajl_val o = escrow__cjson_get(v, "run");
  if (!YAJL_IS_OBJECT(o))
    o = v;
  if ((rc = get_str(o, "status", &r->status)) || (rc = get_str(o, "stage", &r->stage)) ||
      (rc = get_int(o, "run_number", &r->run_number)) ||
      (rc = get_bool(o, "simulated_tee", &r->simulated_tee)) ||
      (rc = get_str(o, "reason", &r->reason)))
    goto out;
  if (r->simulated_tee < 0 && o != v && (rc = get_bool(v, "simulated_tee", &r->simulated_tee)))
    goto out;
  if (!(r->json = dup_text(text, len)))
    rc = escrow__err_nomem();
out:
  yajl_tree_free(v);
  if (rc)
    escrow_api_run_free(r);
  else
    *out = r;
  return rc;
}

void escrow_api_report_free(escrow_api_report *r) {
  if (!r)
    return;
  escrow__free(r->report_content);
  escrow__free(r->json);
  escrow__free(r);
}

int escrow__parse_report(const char *text, size_t len, escrow_api_report **out) {
  *out = NULL;
  yajl_val v;
  int rc = top_object(text, len, &v);
  if (rc)
    return rc;
  escrow_api_report *r = escrow__calloc(1, sizeof *r);
  if (!r) {
    rc = escrow__err_nomem();
    goto out;
  }
  yajl_val c = escrow__cjson_get(v, "report content");
  if (!c) {
    rc = escrow__err(ESCROW_E_FORMAT, "the answer has no \"report content\"");
    goto out;
  }
  /* a string as the sample reads it; a JSON document is kept as its text */
  r->report_content = YAJL_IS_STRING(c) ? escrow__strdup(c->u.string) : escrow__cjson_dump(c);
  if (!r->report_content || !(r->json = dup_text(text, len))) {
    rc = escrow__err_nomem();
    goto out;
  }
  r->report_len = strlen(r->report_content);
out:
  yajl_tree_free(v);
  if (rc)
    escrow_api_report_free(r);
  else
    *out = r;
  return rc;
}

void escrow_api_answer_free(escrow_api_answer *a) {
  if (!a)
    return;
  escrow__free(a->json);
  escrow__free(a);
}

int escrow__parse_answer(const char *text, size_t len, long status, escrow_api_answer **out) {
  *out = NULL;
  yajl_val v;
  int rc = escrow__cjson_parse(text, len, "the answer", &v);
  if (rc)
    return rc;
  yajl_tree_free(v);
  escrow_api_answer *a = escrow__calloc(1, sizeof *a);
  if (!a || !(a->json = dup_text(text, len))) {
    escrow_api_answer_free(a);
    return escrow__err_nomem();
  }
  a->http_status = status;
  *out = a;
  return 0;
}

/* ---- Enclave API --------------------------------------------------------------------------- */

void escrow_enclave_files_free(escrow_enclave_files *f) {
  if (!f)
    return;
  for (size_t i = 0; i < f->count; i++) {
    escrow__free(f->items[i].id);
    escrow__free(f->items[i].name);
    escrow__free(f->items[i].upload_date);
  }
  escrow__free(f->items);
  escrow__free(f->json);
  escrow__free(f);
}

int escrow__parse_files(const char *text, size_t len, escrow_enclave_files **out) {
  *out = NULL;
  yajl_val v;
  int rc = top_object(text, len, &v);
  if (rc)
    return rc;
  escrow_enclave_files *f = escrow__calloc(1, sizeof *f);
  if (!f) {
    rc = escrow__err_nomem();
    goto out;
  }
  yajl_val items = escrow__cjson_get(v, "files");
  if (!YAJL_IS_ARRAY(items)) {
    rc = escrow__err(ESCROW_E_FORMAT, "the answer has no \"files\" list");
    goto out;
  }
  if ((rc = get_int(v, "totalFiles", &f->total_files)))
    goto out;
  size_t n = items->u.array.len;
  if (n && !(f->items = escrow__calloc(n, sizeof *f->items))) {
    rc = escrow__err_nomem();
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    yajl_val it = items->u.array.values[i];
    escrow_enclave_file *e = &f->items[i];
    f->count = i + 1;
    if (!YAJL_IS_OBJECT(it)) {
      rc = escrow__err(ESCROW_E_FORMAT, "a file entry is not a JSON object");
      goto out;
    }
    yajl_val id = escrow__cjson_get(it, "id");
    if (YAJL_IS_NUMBER(id)) { /* an id may be a number */
      if (!(e->id = escrow__strdup(id->u.number.r))) {
        rc = escrow__err_nomem();
        goto out;
      }
    } else if ((rc = get_str(it, "id", &e->id))) {
      goto out;
    }
    if ((rc = get_str(it, "name", &e->name)) || (rc = get_int(it, "size", &e->size)) ||
        (rc = get_str(it, "uploadDate", &e->upload_date)))
      goto out;
    if (!e->name) {
      rc = escrow__err(ESCROW_E_FORMAT, "a file entry has no \"name\"");
      goto out;
    }
  }
  if (!(f->json = dup_text(text, len)))
    rc = escrow__err_nomem();
out:
  yajl_tree_free(v);
  if (rc)
    escrow_enclave_files_free(f);
  else
    *out = f;
  return rc;
}

void escrow_enclave_verdict_free(escrow_enclave_verdict *v) {
  if (!v)
    return;
  escrow__free(v->status);
  escrow__free(v->message);
  escrow__free(v->json);
  escrow__free(v);
}

int escrow__parse_verdict(const char *text, size_t len, long status,
                          escrow_enclave_verdict **out) {
  *out = NULL;
  yajl_val v;
  int rc = top_object(text, len, &v);
  if (rc)
    return rc;
  escrow_enclave_verdict *d = escrow__calloc(1, sizeof *d);
  if (!d) {
    rc = escrow__err_nomem();
    goto out;
  }
  if ((rc = get_str(v, "status", &d->status)) || (rc = get_json(v, "message", &d->message)))
    goto out;
  if (!d->status || (strcmp(d->status, "successful") != 0 && strcmp(d->status, "failed") != 0)) {
    rc = escrow__err(ESCROW_E_FORMAT, "the answer's \"status\" is not \"successful\" or "
                                      "\"failed\"");
    goto out;
  }
  d->valid = strcmp(d->status, "successful") == 0;
  d->http_status = status;
  if (!(d->json = dup_text(text, len)))
    rc = escrow__err_nomem();
out:
  yajl_tree_free(v);
  if (rc)
    escrow_enclave_verdict_free(d);
  else
    *out = d;
  return rc;
}
