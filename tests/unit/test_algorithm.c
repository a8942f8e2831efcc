/* Algorithm packages: the vectors of tests/vectors/packages (our layout and BeeKeeperAI's
 * producers' quirks), packing, the upload checks, extraction, the Dockerfile entry point. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <yajl_tree.h>

#include "package_internal.h"
#include "zip_internal.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static const struct {
  const char *name;
  int code;
} codes[] = {{"ok", 0},
             {"ESCROW_E_INVALID", ESCROW_E_INVALID},
             {"ESCROW_E_NOMEM", ESCROW_E_NOMEM},
             {"ESCROW_E_IO", ESCROW_E_IO},
             {"ESCROW_E_FORMAT", ESCROW_E_FORMAT},
             {"ESCROW_E_AUTH", ESCROW_E_AUTH},
             {"ESCROW_E_UNSUPPORTED", ESCROW_E_UNSUPPORTED},
             {"ESCROW_E_TRUNCATED", ESCROW_E_TRUNCATED},
             {"ESCROW_E_LIMIT", ESCROW_E_LIMIT},
             {"ESCROW_E_NOTFOUND", ESCROW_E_NOTFOUND},
             {"ESCROW_E_EXISTS", ESCROW_E_EXISTS},
             {"ESCROW_E_MISMATCH", ESCROW_E_MISMATCH}};

static int code_of(const char *name) {
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(codes); i++)
    if (strcmp(codes[i].name, name) == 0)
      return codes[i].code;
  fail_msg("unknown code name %s", name);
  return 1;
}

static escrow_cek *cek_hex(const char *hex) {
  uint8_t b[32];
  assert_int_equal(escrow__unhex(b, 32, hex), 0);
  escrow_cek *c = NULL;
  assert_int_equal(escrow__cek_from_raw(&c, b), 0);
  return c;
}

static void sha256_hex(const uint8_t *data, size_t len, char out[65]) {
  uint8_t md[32];
  unsigned int mdlen = 0;
  assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
  escrow__hex(out, md, 32);
}

static char *join(const char *a, const char *b) {
  char *p = escrow__path_join(a, b);
  assert_non_null(p);
  return p;
}

static void write_at(const char *dir, const char *rel, const char *text) {
  char *p = join(dir, rel);
  char *slash = strrchr(p, '/');
  *slash = '\0';
  assert_int_equal(escrow__mkdirs(p, 0700), 0);
  *slash = '/';
  tu_write(p, text, strlen(text));
  escrow__free(p);
}

/* Count regular files under dir holding needle (a plaintext leak check). */
static int files_containing(const char *dir, const char *needle) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char *p = join(dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
      n += files_containing(p, needle);
    } else {
      size_t len;
      uint8_t *b = tu_read(p, &len);
      size_t nl = strlen(needle);
      for (size_t i = 0; i + nl <= len; i++)
        if (memcmp(b + i, needle, nl) == 0) {
          n++;
          break;
        }
      free(b);
    }
    escrow__free(p);
  }
  closedir(d);
  return n;
}

static yajl_val load_vectors(void) {
  size_t len;
  uint8_t *text = tu_read(tu_vector("packages/vectors.json"), &len);
  char err[256];
  char *t = malloc(len + 1);
  memcpy(t, text, len);
  t[len] = '\0';
  free(text);
  yajl_val root = yajl_tree_parse(t, err, sizeof err);
  free(t);
  if (root == NULL)
    fail_msg("vectors.json: %s", err);
  return root;
}

static const char *sval(yajl_val v) {
  if (v == NULL || !YAJL_IS_STRING(v))
    fail_msg("vectors.json: a string was expected");
  return v->u.string;
}

static const char *vstr(yajl_val v, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val s = yajl_tree_get(v, path, yajl_t_string);
  return s != NULL ? s->u.string : NULL;
}

static yajl_val vget(yajl_val v, const char *key) {
  const char *path[] = {key, NULL};
  return yajl_tree_get(v, path, yajl_t_any);
}

/* The status of a check named name in check JSON. */
static const char *check_status(yajl_val doc, const char *name) {
  yajl_val checks = vget(doc, "checks");
  assert_true(YAJL_IS_ARRAY(checks));
  for (size_t i = 0; i < checks->u.array.len; i++) {
    yajl_val c = checks->u.array.values[i];
    if (strcmp(vstr(c, "name"), name) == 0)
      return vstr(c, "status");
  }
  fail_msg("no check named %s", name);
  return NULL;
}

static yajl_val check_doc(const escrow_algorithm *a, int wcek) {
  char *json = NULL;
  assert_int_equal(escrow_algorithm_check(a, wcek, &json), 0);
  char err[256];
  yajl_val doc = yajl_tree_parse(json, err, sizeof err);
  if (doc == NULL)
    fail_msg("check JSON does not parse: %s\n%s", err, json);
  escrow_free(json);
  return doc;
}

/* ---- the vectors ------------------------------------------------------------------------------ */

static void run_vector(yajl_val v, const char *default_cek) {
  const char *name = vstr(v, "name");
  const char *zipname = vstr(v, "zip");
  char rel[256];
  snprintf(rel, sizeof rel, "packages/%s", zipname);
  char zpath[4096];
  snprintf(zpath, sizeof zpath, "%s", tu_vector(rel));
  escrow_zip_limits lim = ESCROW_ZIP_LIMITS_INIT;
  yajl_val l = vget(v, "limits");
  if (l != NULL) {
    yajl_val x;
    if ((x = vget(l, "max_entries")) != NULL)
      lim.max_entries = (uint64_t)YAJL_GET_INTEGER(x);
    if ((x = vget(l, "max_entry_size")) != NULL)
      lim.max_entry_size = (uint64_t)YAJL_GET_INTEGER(x);
    if ((x = vget(l, "max_total_size")) != NULL)
      lim.max_total_size = (uint64_t)YAJL_GET_INTEGER(x);
  }
  escrow_algorithm *a = NULL;
  int rc = escrow_algorithm_open(&a, zpath, &lim);
  int want = code_of(vstr(v, "open"));
  if (rc != want)
    fail_msg("%s: open returned %d (%s), expected %s", name, rc, escrow_error_last(),
             vstr(v, "open"));
  if (rc != 0)
    return;
  yajl_val ents = vget(v, "entries");
  if (ents != NULL) {
    assert_int_equal(escrow_algorithm_entry_count(a), ents->u.array.len);
    for (size_t i = 0; i < ents->u.array.len; i++) {
      const char *w = sval(ents->u.array.values[i]);
      int found = 0;
      for (size_t k = 0; k < escrow_algorithm_entry_count(a); k++)
        found |= strcmp(escrow_algorithm_entry_name(a, k), w) == 0;
      if (!found)
        fail_msg("%s: entry %s missing", name, w);
    }
  }
  yajl_val secs = vget(v, "secrets");
  if (secs != NULL) {
    assert_int_equal(escrow_algorithm_secret_count(a), secs->u.array.len);
    for (size_t i = 0; i < secs->u.array.len; i++) {
      yajl_val p = secs->u.array.values[i];
      const char *e, *o;
      assert_int_equal(escrow_algorithm_secret(a, i, &e, &o), 0);
      assert_string_equal(e, sval(p->u.array.values[0]));
      assert_string_equal(o, sval(p->u.array.values[1]));
    }
  }
  yajl_val chk = vget(v, "check");
  if (chk != NULL) {
    yajl_val doc = check_doc(a, -1);
    yajl_val st = vget(chk, "statuses");
    for (size_t i = 0; i < st->u.object.len; i++) {
      const char *got = check_status(doc, st->u.object.keys[i]);
      const char *exp = sval(st->u.object.values[i]);
      if (strcmp(got, exp) != 0)
        fail_msg("%s: check '%s' is %s, expected %s", name, st->u.object.keys[i], got, exp);
    }
    yajl_val passed = vget(doc, "passed");
    assert_int_equal(YAJL_IS_TRUE(passed), YAJL_IS_TRUE(vget(chk, "passed")));
    yajl_tree_free(doc);
  }
  const char *ex = vstr(v, "extract");
  if (ex != NULL) {
    const char *ch = vstr(v, "cek");
    escrow_cek *cek = cek_hex(ch != NULL ? ch : default_cek);
    char *tmp = tu_tmpdir("algvec");
    char *out = join(tmp, "out");
    rc = escrow_algorithm_extract(a, cek, out);
    if (rc != code_of(ex))
      fail_msg("%s: extract returned %d (%s), expected %s", name, rc, escrow_error_last(), ex);
    if (rc != 0) {
      assert_false(tu_exists(out)); /* nothing left behind, no plaintext */
    } else {
      yajl_val files = vget(v, "files");
      for (size_t i = 0; files != NULL && i < files->u.object.len; i++) {
        char *p = join(out, files->u.object.keys[i]);
        size_t len;
        uint8_t *b = tu_read(p, &len);
        char hx[65];
        sha256_hex(b, len, hx);
        if (strcmp(hx, sval(files->u.object.values[i])) != 0)
          fail_msg("%s: %s has the wrong content", name, files->u.object.keys[i]);
        free(b);
        escrow__free(p);
      }
      /* .bkenc entries themselves are not written */
      for (size_t i = 0; i < escrow_algorithm_secret_count(a); i++) {
        const char *e;
        assert_int_equal(escrow_algorithm_secret(a, i, &e, NULL), 0);
        char *p = join(out, e);
        assert_false(tu_exists(p));
        escrow__free(p);
      }
    }
    escrow__rmtree(tmp);
    free(tmp);
    escrow__free(out);
    escrow_cek_free(cek);
  }
  escrow_algorithm_free(a);
}

static void test_package_vectors_give_expected_results(void **state) {
  (void)state;
  yajl_val root = load_vectors();
  const char *cek = vstr(root, "cek");
  yajl_val vs = vget(root, "vectors");
  assert_true(vs->u.array.len >= 25);
  for (size_t i = 0; i < vs->u.array.len; i++)
    run_vector(vs->u.array.values[i], cek);
  yajl_tree_free(root);
}

/* ---- quirks, one by one ------------------------------------------------------------------------ */

static escrow_algorithm *open_vector(const char *zip) {
  char rel[256];
  snprintf(rel, sizeof rel, "packages/%s", zip);
  escrow_algorithm *a = NULL;
  int rc = escrow_algorithm_open(&a, tu_vector(rel), NULL);
  if (rc != 0)
    fail_msg("open %s: %s", zip, escrow_error_last());
  return a;
}

static void extract_ok(const char *zip) {
  escrow_algorithm *a = open_vector(zip);
  escrow_cek *cek = tu_cek();
  char *tmp = tu_tmpdir("quirk");
  char *out = join(tmp, "out");
  int rc = escrow_algorithm_extract(a, cek, out);
  if (rc != 0)
    fail_msg("extract %s: %s", zip, escrow_error_last());
  escrow__rmtree(tmp);
  free(tmp);
  escrow__free(out);
  escrow_cek_free(cek);
  escrow_algorithm_free(a);
}

static void test_reads_zip64_local_headers_of_escrowai_encrypt(void **state) {
  (void)state;
  /* Each local header says 0xFFFFFFFF sizes with a Zip64 extra; the central directory does not. */
  size_t len;
  uint8_t *b = tu_read(tu_vector("packages/escrowai-encrypt-lib.zip"), &len);
  assert_true(len > 30);
  assert_memory_equal(b + 18, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
  free(b);
  extract_ok("escrowai-encrypt-lib.zip");
}

static void test_reads_unquoted_names_yaml_would_mangle(void **state) {
  (void)state;
  escrow_algorithm *a = open_vector("escrowai-encrypt-cli.zip");
  const char *want[] = {"007", "true", "a, b.txt", "notes #1.txt", "key: value.txt", "1.5e3"};
  assert_int_equal(escrow_algorithm_secret_count(a), ESCROW__ARRAY_LEN(want));
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(want); i++) {
    const char *o;
    assert_int_equal(escrow_algorithm_secret(a, i, NULL, &o), 0);
    assert_string_equal(o, want[i]);
  }
  escrow_algorithm_free(a);
  extract_ok("escrowai-encrypt-cli.zip");
}

static void test_decrypts_escrowaici_chained_keys(void **state) {
  (void)state;
  escrow_algorithm *a = open_vector("escrowaici-chained.zip");
  /* directory entries ("models/") are skipped, not listed */
  for (size_t i = 0; i < escrow_algorithm_entry_count(a); i++)
    assert_string_not_equal(escrow_algorithm_entry_name(a, i), "models");
  escrow_cek *cek = tu_cek();
  char *tmp = tu_tmpdir("chain");
  char *out = join(tmp, "out");
  assert_int_equal(escrow_algorithm_extract(a, cek, out), 0);
  char *p = join(out, "models/c.pkl");
  size_t len;
  uint8_t *b = tu_read(p, &len);
  assert_int_equal(len, 300);
  assert_int_equal(b[0], 'C');
  free(b);
  escrow__free(p);
  escrow__rmtree(tmp);
  free(tmp);
  escrow__free(out);
  escrow_cek_free(cek);
  escrow_algorithm_free(a);
}

/* ---- pack ----------------------------------------------------------------------------------- */

static const char *DOCKERFILE_TEXT = "FROM python:3.9-slim\nWORKDIR /app\nCOPY . .\n"
                                     "ENTRYPOINT [\"/bin/sh\", \"run.sh\"]\n";

static char *make_algo_dir(const char *tag) {
  char *tmp = tu_tmpdir(tag);
  char *dir = join(tmp, "algo");
  write_at(dir, "Dockerfile", DOCKERFILE_TEXT);
  write_at(dir, "run.sh", "#!/bin/sh\npython3 app.py\n");
  write_at(dir, "app.py", "print('TOP-SECRET-APP')\n");
  write_at(dir, "models/model.pkl", "TOP-SECRET-MODEL weights");
  write_at(dir, "models/extra.bin", "TOP-SECRET-EXTRA");
  write_at(dir, ".dockerignore", ".venv\n");
  free(tmp);
  return dir;
}

static void rm_parent(char *dir) {
  char *slash = strrchr(dir, '/');
  *slash = '\0';
  escrow__rmtree(dir);
  escrow__free(dir);
}

static void pack_roundtrip(escrow_file_format fmt) {
  char *dir = make_algo_dir("pack");
  char *zip = join(dir, "../alg.zip");
  escrow_cek *cek = tu_cek();
  const char *secrets[] = {"app.py", "./models/"};
  escrow_pack_options o = ESCROW_PACK_OPTIONS_INIT;
  o.format = fmt;
  o.context.project_id = "proj-1";
  o.context.role = "ao";
  int rc = escrow_algorithm_pack(dir, cek, secrets, 2, &o, zip);
  if (rc != 0)
    fail_msg("pack: %s", escrow_error_last());
  /* No plaintext of a secret in the zip. */
  size_t zl;
  uint8_t *zb = tu_read(zip, &zl);
  for (size_t i = 0; i + 10 <= zl; i++)
    assert_memory_not_equal(zb + i, "TOP-SECRET", 10);
  free(zb);
  escrow_algorithm *a = NULL;
  assert_int_equal(escrow_algorithm_open(&a, zip, NULL), 0);
  /* sorted entries */
  for (size_t i = 0; i + 1 < escrow_algorithm_entry_count(a); i++)
    assert_true(strcmp(escrow_algorithm_entry_name(a, i), escrow_algorithm_entry_name(a, i + 1)) < 0);
  assert_int_equal(escrow_algorithm_secret_count(a), 3);
  const char *e, *orig;
  assert_int_equal(escrow_algorithm_secret(a, 0, &e, &orig), 0);
  assert_string_equal(e, "app.py.bkenc");
  assert_string_equal(orig, "app.py");
  yajl_val doc = check_doc(a, 1);
  assert_true(YAJL_IS_TRUE(vget(doc, "passed")));
  assert_string_equal(check_status(doc, "Entry point is present"), "passed");
  assert_string_equal(check_status(doc, "WCEK file is present"), "passed");
  yajl_tree_free(doc);
  char *out = join(dir, "../out");
  assert_int_equal(escrow_algorithm_extract(a, cek, out), 0);
  char *p = join(out, "models/model.pkl");
  size_t len;
  uint8_t *b = tu_read(p, &len);
  assert_int_equal(len, strlen("TOP-SECRET-MODEL weights"));
  assert_memory_equal(b, "TOP-SECRET-MODEL weights", len);
  free(b);
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  escrow__free(p);
  p = join(out, "models");
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  escrow__free(p);
  p = join(out, ".dockerignore");
  assert_true(tu_exists(p));
  escrow__free(p);
  escrow_algorithm_free(a);
  escrow__free(out);
  escrow__free(zip);
  escrow_cek_free(cek);
  rm_parent(dir);
}

static void test_pack_v1_roundtrips_and_leaks_no_plaintext(void **state) {
  (void)state;
  pack_roundtrip(ESCROW_FORMAT_V1);
}

static void test_pack_v0_roundtrips_and_leaks_no_plaintext(void **state) {
  (void)state;
  pack_roundtrip(ESCROW_FORMAT_V0);
}

static void test_pack_v1_secret_carries_its_path_and_context(void **state) {
  (void)state;
  char *dir = make_algo_dir("packctx");
  char *zip = join(dir, "../alg.zip");
  escrow_cek *cek = tu_cek();
  const char *secrets[] = {"models/model.pkl"};
  escrow_pack_options o = ESCROW_PACK_OPTIONS_INIT;
  o.context.project_id = "proj-9";
  o.context.key_id = "wcek-v3";
  assert_int_equal(escrow_algorithm_pack(dir, cek, secrets, 1, &o, zip), 0);
  escrow__zip *z = NULL;
  assert_int_equal(escrow__zip_open_file(&z, zip, NULL), 0);
  size_t idx;
  assert_int_equal(escrow__zip_find(z, "models/model.pkl.bkenc", &idx), 0);
  uint8_t *b;
  size_t len;
  assert_int_equal(escrow__zip_read(z, idx, 1 << 20, &b, &len), 0);
  escrow_header *h = NULL;
  assert_int_equal(escrow_header_parse(&h, b, len, NULL), 0);
  assert_string_equal(escrow_header_context(h, 4), "models/model.pkl");
  assert_string_equal(escrow_header_context(h, 1), "proj-9");
  assert_string_equal(escrow_header_context(h, 5), "wcek-v3");
  escrow_header_free(h);
  escrow__free(b);
  escrow__zip_free(z);
  escrow__free(zip);
  escrow_cek_free(cek);
  rm_parent(dir);
}

static void test_pack_v0_uses_a_fresh_salt_per_file(void **state) {
  (void)state;
  char *dir = make_algo_dir("packsalt");
  write_at(dir, "s1.bin", "same content");
  write_at(dir, "s2.bin", "same content");
  char *zip = join(dir, "../alg.zip");
  escrow_cek *cek = tu_cek();
  const char *secrets[] = {"s1.bin", "s2.bin"};
  escrow_pack_options o = ESCROW_PACK_OPTIONS_INIT;
  o.format = ESCROW_FORMAT_V0;
  assert_int_equal(escrow_algorithm_pack(dir, cek, secrets, 2, &o, zip), 0);
  escrow__zip *z = NULL;
  assert_int_equal(escrow__zip_open_file(&z, zip, NULL), 0);
  uint8_t h1[16], h2[16];
  size_t i1, i2, g;
  assert_int_equal(escrow__zip_find(z, "s1.bin.bkenc", &i1), 0);
  assert_int_equal(escrow__zip_find(z, "s2.bin.bkenc", &i2), 0);
  assert_int_equal(escrow__zip_peek(z, i1, h1, 16, &g), 0);
  assert_int_equal(escrow__zip_peek(z, i2, h2, 16, &g), 0);
  assert_memory_equal(h1, "Salted__", 8);
  assert_memory_not_equal(h1 + 8, h2 + 8, 8);
  escrow__zip_free(z);
  escrow__free(zip);
  escrow_cek_free(cek);
  rm_parent(dir);
}

static void test_pack_uses_the_folders_secrets_yaml_when_none_named(void **state) {
  (void)state;
  char *dir = make_algo_dir("packyaml");
  write_at(dir, "secrets.yaml", "secretFiles:\n  - [models/model.pkl.bkenc, models/model.pkl]\n");
  char *zip = join(dir, "../alg.zip");
  escrow_cek *cek = tu_cek();
  assert_int_equal(escrow_algorithm_pack(dir, cek, NULL, 0, NULL, zip), 0);
  escrow_algorithm *a = NULL;
  assert_int_equal(escrow_algorithm_open(&a, zip, NULL), 0);
  assert_int_equal(escrow_algorithm_secret_count(a), 1);
  size_t i;
  escrow__zip *z = NULL;
  assert_int_equal(escrow__zip_open_file(&z, zip, NULL), 0);
  assert_int_not_equal(escrow__zip_find(z, "models/model.pkl", &i), 0);
  assert_int_equal(escrow__zip_find(z, "app.py", &i), 0);
  escrow__zip_free(z);
  escrow_algorithm_free(a);
  /* without names and without secrets.yaml: refused */
  char *d2 = make_algo_dir("packnoyaml");
  assert_int_equal(escrow_algorithm_pack(d2, cek, NULL, 0, NULL, zip), ESCROW_E_NOTFOUND);
  rm_parent(d2);
  escrow__free(zip);
  escrow_cek_free(cek);
  rm_parent(dir);
}

static void pack_refused(const char *secret, int code, const char *why_word,
                         void (*prep)(const char *dir)) {
  char *dir = make_algo_dir("packbad");
  if (prep != NULL)
    prep(dir);
  char *zip = join(dir, "../alg.zip");
  escrow_cek *cek = tu_cek();
  const char *secrets[] = {secret};
  int rc = escrow_algorithm_pack(dir, cek, secrets, 1, NULL, zip);
  if (rc != code)
    fail_msg("pack with secret %s: %d (%s), expected %d", secret, rc, escrow_error_last(), code);
  if (why_word != NULL && strstr(escrow_error_last(), why_word) == NULL)
    fail_msg("message lacks '%s': %s", why_word, escrow_error_last());
  assert_false(tu_exists(zip));
  /* no temporary files left beside the zip */
  char *parent = join(dir, "..");
  DIR *d = opendir(parent);
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    assert_null(strstr(e->d_name, "alg.zip"));
  closedir(d);
  escrow__free(parent);
  escrow__free(zip);
  escrow_cek_free(cek);
  rm_parent(dir);
}

static void add_link(const char *dir) {
  char *p = join(dir, "models/link.bin");
  assert_int_equal(symlink("/etc/hostname", p), 0);
  escrow__free(p);
}

static void test_pack_refuses_the_dockerfile_as_a_secret(void **state) {
  (void)state;
  pack_refused("Dockerfile", ESCROW_E_INVALID, "plaintext", NULL);
}

static void test_pack_refuses_the_entry_point_as_a_secret(void **state) {
  (void)state;
  pack_refused("run.sh", ESCROW_E_INVALID, "entry point", NULL);
}

static void test_pack_refuses_secrets_outside_the_folder(void **state) {
  (void)state;
  pack_refused("../etc/passwd", ESCROW_E_INVALID, NULL, NULL);
  pack_refused("/etc/passwd", ESCROW_E_INVALID, NULL, NULL);
}

static void test_pack_refuses_a_missing_secret(void **state) {
  (void)state;
  pack_refused("nothere.py", ESCROW_E_NOTFOUND, NULL, NULL);
}

static void test_pack_refuses_symbolic_links(void **state) {
  (void)state;
  pack_refused("app.py", ESCROW_E_INVALID, "link", add_link);
}

static void test_pack_is_reproducible_in_layout(void **state) {
  (void)state;
  char *dir = make_algo_dir("packrepro");
  char *zip = join(dir, "../alg.zip");
  escrow_cek *cek = tu_cek();
  assert_int_equal(escrow_algorithm_pack(dir, cek, (const char *[]){"app.py"}, 1, NULL, zip), 0);
  escrow__zip *z = NULL;
  assert_int_equal(escrow__zip_open_file(&z, zip, NULL), 0);
  const char *want[] = {".dockerignore", "Dockerfile", "app.py.bkenc", "models/extra.bin",
                        "models/model.pkl", "run.sh", "secrets.yaml"};
  assert_int_equal(escrow__zip_count(z), ESCROW__ARRAY_LEN(want));
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(want); i++)
    assert_string_equal(escrow__zip_name(z, i), want[i]);
  /* run.sh keeps its mode bits */
  escrow__zip_free(z);
  escrow__free(zip);
  escrow_cek_free(cek);
  rm_parent(dir);
}

/* ---- extract failures ------------------------------------------------------------------------ */

static void test_extract_refuses_an_existing_folder(void **state) {
  (void)state;
  escrow_algorithm *a = open_vector("ours-v1.zip");
  escrow_cek *cek = tu_cek();
  char *tmp = tu_tmpdir("exists");
  char *marker = join(tmp, "keep");
  tu_write(marker, "x", 1);
  assert_int_equal(escrow_algorithm_extract(a, cek, tmp), ESCROW_E_EXISTS);
  assert_true(tu_exists(marker)); /* untouched */
  escrow__rmtree(tmp);
  free(tmp);
  escrow__free(marker);
  escrow_cek_free(cek);
  escrow_algorithm_free(a);
}

static void test_extract_with_wrong_key_leaves_no_plaintext(void **state) {
  (void)state;
  escrow_algorithm *a = open_vector("escrowai-encrypt-cli.zip");
  uint8_t k[32] = {1};
  escrow_cek *cek = NULL;
  assert_int_equal(escrow__cek_from_raw(&cek, k), 0);
  char *tmp = tu_tmpdir("wrongkey");
  char *out = join(tmp, "out");
  assert_int_equal(escrow_algorithm_extract(a, cek, out), ESCROW_E_AUTH);
  assert_false(tu_exists(out));
  assert_int_equal(files_containing(tmp, "secret 0"), 0);
  escrow__rmtree(tmp);
  free(tmp);
  escrow__free(out);
  escrow_cek_free(cek);
  escrow_algorithm_free(a);
}

static void test_extract_refuses_a_swapped_secret(void **state) {
  (void)state;
  escrow_algorithm *a = open_vector("extract-swapped.zip");
  escrow_cek *cek = tu_cek();
  char *tmp = tu_tmpdir("swap");
  char *out = join(tmp, "out");
  assert_int_equal(escrow_algorithm_extract(a, cek, out), ESCROW_E_MISMATCH);
  assert_non_null(strstr(escrow_error_last(), "a.bin"));
  assert_false(tu_exists(out));
  escrow__rmtree(tmp);
  free(tmp);
  escrow__free(out);
  escrow_cek_free(cek);
  escrow_algorithm_free(a);
}

/* ---- checks ------------------------------------------------------------------------------------ */

static void test_check_names_the_leaked_plaintext(void **state) {
  (void)state;
  escrow_algorithm *a = open_vector("check-plaintext-leak.zip");
  char *json = NULL;
  assert_int_equal(escrow_algorithm_check(a, 1, &json), 0);
  assert_non_null(strstr(json, "'app.py' is in the package in plaintext"));
  assert_non_null(strstr(json, "\"passed\":false"));
  escrow_free(json);
  escrow_algorithm_free(a);
}

static void test_check_reports_checks_in_manual_order(void **state) {
  (void)state;
  escrow_algorithm *a = open_vector("ours-v1.zip");
  yajl_val doc = check_doc(a, 0);
  yajl_val checks = vget(doc, "checks");
  const char *order[] = {"Dockerfile is present", "Secrets file is present",
                         "WCEK file is present", "Secret files are present",
                         "Entry point is present"};
  assert_int_equal(checks->u.array.len, 5);
  for (size_t i = 0; i < 5; i++)
    assert_string_equal(vstr(checks->u.array.values[i], "name"), order[i]);
  assert_string_equal(check_status(doc, "WCEK file is present"), "failed");
  assert_true(YAJL_IS_FALSE(vget(doc, "passed")));
  yajl_tree_free(doc);
  escrow_algorithm_free(a);
}

/* ---- Dockerfile entry point ------------------------------------------------------------------- */

static void entry_is(const char *dockerfile, const char *want) {
  char *s = NULL;
  const char *why = NULL;
  assert_int_equal(escrow__dockerfile_entry_script(dockerfile, strlen(dockerfile), &s, &why), 0);
  if (want == NULL) {
    if (s != NULL)
      fail_msg("expected no script for:\n%s\ngot %s", dockerfile, s);
    assert_non_null(why);
  } else {
    if (s == NULL || strcmp(s, want) != 0)
      fail_msg("expected %s for:\n%s\ngot %s (%s)", want, dockerfile, s ? s : "none",
               why ? why : "");
  }
  escrow__free(s);
}

static void test_entry_point_forms_are_understood(void **state) {
  (void)state;
  entry_is("FROM x\nWORKDIR /app\nENTRYPOINT [\"/bin/sh\",\"run.sh\"]\n", "run.sh");
  entry_is("FROM x\nENTRYPOINT [\"./run.sh\"]\n", "run.sh");
  entry_is("FROM x\nWORKDIR /app\nENTRYPOINT [\"/app/run.sh\"]\n", "run.sh");
  entry_is("FROM x\nWORKDIR /app\nENTRYPOINT [\"bash\", \"run.sh\"]\n", "run.sh");
  entry_is("FROM x\nWORKDIR /app\nENTRYPOINT ./scripts/start.sh\n", "scripts/start.sh");
  entry_is("FROM x\nCMD python3 app.py\n", "app.py");
  entry_is("FROM x\nCMD [\"python3\", \"-u\", \"app.py\"]\n", "app.py");
  entry_is("FROM x\nentrypoint [\"Rscript\", \"app.R\"]\n", "app.R");
  entry_is("FROM x\nENTRYPOINT [\"sh\", \"-c\", \"exec ./run.sh --fast\"]\n", "run.sh");
  entry_is("FROM x\nENTRYPOINT [\"/bin/sh\", \\\n  \"run.sh\"]\n", "run.sh");
  /* the last stage counts */
  entry_is("FROM a as b\nENTRYPOINT [\"./build.sh\"]\nFROM c\nWORKDIR /app\n"
           "ENTRYPOINT [\"./run.sh\"]\n",
           "run.sh");
  entry_is("FROM x\nCMD [\"python3\", \"-m\", \"app\"]\n", NULL);
  entry_is("FROM x\nRUN echo\n", NULL);
  entry_is("FROM x\nWORKDIR /app\nENTRYPOINT [\"/usr/bin/tini\"]\n", NULL);
  entry_is("FROM x\nWORKDIR /srv\nENTRYPOINT [\"/app/run.sh\"]\n", NULL);
}

/* ---- allocation failures ------------------------------------------------------------------------ */

typedef struct afctx {
  const char *zip;
  escrow_algorithm *a;
  escrow_cek *cek;
  char *out;
  char *json;
  int rc;
} afctx;

static int af_open(void *c) {
  afctx *x = c;
  return escrow_algorithm_open(&x->a, x->zip, NULL);
}

static void af_clean(void *c) {
  afctx *x = c;
  escrow_algorithm_free(x->a);
  x->a = NULL;
  escrow_free(x->json);
  x->json = NULL;
}

static int af_check(void *c) {
  afctx *x = c;
  return escrow_algorithm_check(x->a, -1, &x->json);
}

static void af_check_clean(void *c) {
  afctx *x = c;
  escrow_free(x->json);
  x->json = NULL;
}

static int af_extract(void *c) {
  afctx *x = c;
  x->rc = escrow_algorithm_extract(x->a, x->cek, x->out);
  return x->rc;
}

static void af_extract_clean(void *c) {
  afctx *x = c;
  if (x->rc != 0)
    assert_false(tu_exists(x->out)); /* a failed extraction leaves nothing */
  escrow__rmtree(x->out);
}

static void test_open_check_extract_survive_allocation_failures(void **state) {
  (void)state;
  const char *zips[] = {"ours-v1.zip", "escrowaici-chained.zip", "escrowai-encrypt-cli.zip"};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(zips); i++) {
    char rel[128];
    snprintf(rel, sizeof rel, "packages/%s", zips[i]);
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_vector(rel));
    afctx x = {path, NULL, tu_cek(), NULL, NULL, 0};
    assert_true(tu_alloc_failures(af_open, af_clean, &x, 0) > 0);
    assert_int_equal(escrow_algorithm_open(&x.a, path, NULL), 0);
    assert_true(tu_alloc_failures(af_check, af_check_clean, &x, 0) > 0);
    char *tmp = tu_tmpdir("afx");
    x.out = join(tmp, "out");
    if (i == 0) /* v1 (v0 runs PBKDF2 per attempt: too slow under valgrind) */
      assert_true(tu_alloc_failures(af_extract, af_extract_clean, &x, 0) > 0);
    escrow__rmtree(tmp);
    free(tmp);
    escrow__free(x.out);
    escrow_algorithm_free(x.a);
    escrow_cek_free(x.cek);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_package_vectors_give_expected_results),
      cmocka_unit_test(test_reads_zip64_local_headers_of_escrowai_encrypt),
      cmocka_unit_test(test_reads_unquoted_names_yaml_would_mangle),
      cmocka_unit_test(test_decrypts_escrowaici_chained_keys),
      cmocka_unit_test(test_pack_v1_roundtrips_and_leaks_no_plaintext),
      cmocka_unit_test(test_pack_v0_roundtrips_and_leaks_no_plaintext),
      cmocka_unit_test(test_pack_v1_secret_carries_its_path_and_context),
      cmocka_unit_test(test_pack_v0_uses_a_fresh_salt_per_file),
      cmocka_unit_test(test_pack_uses_the_folders_secrets_yaml_when_none_named),
      cmocka_unit_test(test_pack_refuses_the_dockerfile_as_a_secret),
      cmocka_unit_test(test_pack_refuses_the_entry_point_as_a_secret),
      cmocka_unit_test(test_pack_refuses_secrets_outside_the_folder),
      cmocka_unit_test(test_pack_refuses_a_missing_secret),
      cmocka_unit_test(test_pack_refuses_symbolic_links),
      cmocka_unit_test(test_pack_is_reproducible_in_layout),
      cmocka_unit_test(test_extract_refuses_an_existing_folder),
      cmocka_unit_test(test_extract_with_wrong_key_leaves_no_plaintext),
      cmocka_unit_test(test_extract_refuses_a_swapped_secret),
      cmocka_unit_test(test_check_names_the_leaked_plaintext),
      cmocka_unit_test(test_check_reports_checks_in_manual_order),
      cmocka_unit_test(test_entry_point_forms_are_understood),
      cmocka_unit_test(test_open_check_extract_survive_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
