/* escrowd unit tests: the JWT parser and verifier, form bodies, routing, JSON text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include <sys/stat.h>
#include <unistd.h>

#include "accounts.h"
#include "buf.h"
#include "domain.h"
#include "form.h"
#include "jwt.h"
#include "router.h"
#include "web.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static char *b64url(const unsigned char *in, size_t n) {
  static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  char *o = malloc(n * 4 / 3 + 4);
  size_t j = 0, i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    o[j++] = T[v >> 18];
    o[j++] = T[(v >> 12) & 63];
    o[j++] = T[(v >> 6) & 63];
    o[j++] = T[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    o[j++] = T[v >> 18];
    o[j++] = T[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    o[j++] = T[v >> 18];
    o[j++] = T[(v >> 12) & 63];
    o[j++] = T[(v >> 6) & 63];
  }
  o[j] = 0;
  return o;
}

static EVP_PKEY *load_key(const char *name, int priv) {
  char path[1024];
  snprintf(path, sizeof path, "%s/keys/%s", ESCROW_TEST_VECTORS, name);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  EVP_PKEY *k = priv ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
  fclose(f);
  assert_non_null(k);
  return k;
}

/* A token as PyJWT makes it: b64url(header).b64url(payload).b64url(RS256 signature). */
static char *make_token(EVP_PKEY *key, const char *header, const char *payload) {
  char *h = b64url((const unsigned char *)header, strlen(header));
  char *p = b64url((const unsigned char *)payload, strlen(payload));
  size_t silen = strlen(h) + 1 + strlen(p);
  char *si = malloc(silen + 1);
  snprintf(si, silen + 1, "%s.%s", h, p);
  unsigned char sig[1024];
  size_t siglen = sizeof sig;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
  assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)si, silen), 1);
  EVP_MD_CTX_free(ctx);
  char *s = b64url(sig, siglen);
  char *tok = malloc(silen + strlen(s) + 2);
  sprintf(tok, "%s.%s", si, s);
  free(h);
  free(p);
  free(si);
  free(s);
  return tok;
}

static const char *const AUDS[] = {"frontoffice.beekeeperai", "staging.api.beekeeperai"};
#define NOW 1760000000

static char *payload(const char *aud, long exp) {
  char *p = malloc(512);
  snprintf(p, 512,
           "{\"iss\":\"EscrowAI-API\",\"exp\":%ld,%s\"sub\":\"6f1c\",\"user\":\"ao@acme.test\"}",
           exp, aud ? aud : "");
  return p;
}

/* ---- JWT -------------------------------------------------------------------------------- */

static void jwt_as_the_sample_makes_it_verifies(void **state) {
  (void)state;
  EVP_PKEY *priv = load_key("kek3072.key.pem", 1), *pub = load_key("kek3072.pub.pem", 0);
  char *pl = payload("\"aud\":\"frontoffice.beekeeperai\",", NOW + 300);
  char *tok = make_token(priv, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", pl);
  srv_jwt *j = NULL;
  char err[256];
  assert_int_equal(srv_jwt_parse(&j, tok, strlen(tok), err, sizeof err), 0);
  assert_string_equal(j->sub, "6f1c");
  assert_string_equal(j->user, "ao@acme.test");
  assert_int_equal(srv_jwt_verify_rs256(j, pub, err, sizeof err), 0);
  assert_int_equal(srv_jwt_check_claims(j, NOW, 60, 3600, "EscrowAI-API", AUDS, 2, err, sizeof err), 0);
  srv_jwt_free(j);
  free(tok);
  free(pl);
  EVP_PKEY_free(priv);
  EVP_PKEY_free(pub);
}

static void jwt_refused_for_another_key_or_altered_payload(void **state) {
  (void)state;
  EVP_PKEY *priv = load_key("kek3072.key.pem", 1), *other = load_key("kek4096.pub.pem", 0);
  EVP_PKEY *pub = load_key("kek3072.pub.pem", 0);
  char *pl = payload("\"aud\":\"frontoffice.beekeeperai\",", NOW + 300);
  char *tok = make_token(priv, "{\"alg\":\"RS256\"}", pl);
  srv_jwt *j = NULL;
  char err[256];
  assert_int_equal(srv_jwt_parse(&j, tok, strlen(tok), err, sizeof err), 0);
  assert_int_equal(srv_jwt_verify_rs256(j, other, err, sizeof err), -1);
  srv_jwt_free(j);
  /* flip one character of the payload */
  char *dot = strchr(tok, '.');
  dot[3] = dot[3] == 'A' ? 'B' : 'A';
  if (srv_jwt_parse(&j, tok, strlen(tok), err, sizeof err) == 0) {
    assert_int_equal(srv_jwt_verify_rs256(j, pub, err, sizeof err), -1);
    srv_jwt_free(j);
  }
  free(tok);
  free(pl);
  EVP_PKEY_free(priv);
  EVP_PKEY_free(other);
  EVP_PKEY_free(pub);
}

static void jwt_algorithms_other_than_rs256_are_refused(void **state) {
  (void)state;
  const char *algs[] = {"none", "HS256", "RS384", "PS256", "ES256", "rs256"};
  for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
    char h[64];
    snprintf(h, sizeof h, "{\"alg\":\"%s\"}", algs[i]);
    char *hb = b64url((unsigned char *)h, strlen(h));
    char tok[512];
    snprintf(tok, sizeof tok, "%s.eyJpc3MiOiJ4In0.c2ln", hb);
    free(hb);
    srv_jwt *j = NULL;
    char err[256] = "";
    assert_int_equal(srv_jwt_parse(&j, tok, strlen(tok), err, sizeof err), -1);
    assert_null(j);
    assert_non_null(strstr(err, "only RS256"));
  }
}

static void jwt_malformed_tokens_are_refused(void **state) {
  (void)state;
  const char *bad[] = {"",
                       "abc",
                       "a.b",
                       "a.b.c.d",
                       "eyJhbGciOiJSUzI1NiJ9..c2ln",
                       "eyJhbGciOiJSUzI1NiJ9.e30.",                  /* unsigned */
                       "eyJhbGciOiJSUzI1NiJ9=.e30.c2ln",             /* padding */
                       "W10.e30.c2ln",                               /* header [] */
                       "eyJhbGciOiJSUzI1NiIsImFsZyI6Im5vbmUifQ.e30.c2ln", /* duplicate alg */
                       "eyJhbGciOiJSUzI1NiIsImNyaXQiOlsiYiJdfQ.e30.c2ln", /* crit */
                       "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOiJzb29uIn0.c2ln",  /* exp a string */
                       "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOjF9.c2ln"};        /* aud a number */
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    srv_jwt *j = NULL;
    char err[256] = "";
    assert_int_equal(srv_jwt_parse(&j, bad[i], strlen(bad[i]), err, sizeof err), -1);
    assert_null(j);
    assert_true(err[0] != 0);
  }
}

static void jwt_claims_expiry_skew_issuer_audience(void **state) {
  (void)state;
  struct {
    const char *aud;
    long exp;
    int64_t now;
    int ok;
  } cases[] = {
      {"\"aud\":\"frontoffice.beekeeperai\",", NOW + 300, NOW, 0},
      {"\"aud\":[\"x\",\"staging.api.beekeeperai\"],", NOW + 300, NOW, 0},
      {"\"aud\":\"frontoffice.beekeeperai\",", NOW - 30, NOW, 0},  /* within 60 s skew */
      {"\"aud\":\"frontoffice.beekeeperai\",", NOW - 61, NOW, -1}, /* expired */
      {"\"aud\":\"frontoffice.beekeeperai\",", NOW, NOW + 60, -1},
      {"\"aud\":\"other\",", NOW + 300, NOW, -1},
      {NULL, NOW + 300, NOW, -1}, /* no audience */
      {"\"aud\":\"frontoffice.beekeeperai\",", NOW + 3660, NOW, 0},  /* an hour + skew */
      {"\"aud\":\"frontoffice.beekeeperai\",", NOW + 3661, NOW, -1}, /* lives too long */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *pl = payload(cases[i].aud, cases[i].exp);
    char *p64 = b64url((unsigned char *)pl, strlen(pl));
    char tok[1024];
    snprintf(tok, sizeof tok, "eyJhbGciOiJSUzI1NiJ9.%s.c2ln", p64);
    srv_jwt *j = NULL;
    char err[256];
    assert_int_equal(srv_jwt_parse(&j, tok, strlen(tok), err, sizeof err), 0);
    assert_int_equal(srv_jwt_check_claims(j, cases[i].now, 60, 3600, "EscrowAI-API", AUDS, 2, err, sizeof err),
                     cases[i].ok);
    assert_int_equal(srv_jwt_check_claims(j, cases[i].now, 60, 3600, "Other-Issuer", AUDS, 2, err, sizeof err), -1);
    srv_jwt_free(j);
    free(p64);
    free(pl);
  }
}

/* ---- forms -------------------------------------------------------------------------------- */

static const char MP[] =
    "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"project_id\"\r\n\r\n6f1c\r\n"
    "--XyZ\r\nContent-Disposition: form-data; name=\"file_name\"; filename=\"wcek_1.key.bkenc\"\r\n"
    "Content-Type: application/octet-stream\r\n\r\n\x00\x01\r\n--X\r\n"
    "--XyZ--\r\nepilogue";

static void multipart_as_requests_sends_it(void **state) {
  (void)state;
  srv_form f;
  srv_form_init(&f);
  char err[256];
  assert_int_equal(srv_form_parse_multipart(&f, "multipart/form-data; boundary=XyZ", MP,
                                            sizeof MP - 1, err, sizeof err),
                   0);
  assert_int_equal(f.n, 2);
  const srv_field *p = srv_form_get(&f, "project_id", NULL);
  assert_string_equal(p->value, "6f1c");
  assert_null(p->filename);
  const srv_field *file = srv_form_get(&f, "file_name", NULL);
  assert_string_equal(file->filename, "wcek_1.key.bkenc");
  assert_int_equal(file->len, 7); /* a CRLF and "--X" inside a file are content */
  assert_memory_equal(file->value, "\x00\x01\r\n--X", 7);
  srv_form_clear(&f);
  /* quoted boundary */
  srv_form_init(&f);
  assert_int_equal(srv_form_parse_multipart(&f, "multipart/form-data; boundary=\"XyZ\"", MP,
                                            sizeof MP - 1, err, sizeof err),
                   0);
  srv_form_clear(&f);
}

static void malformed_multipart_is_refused(void **state) {
  (void)state;
  const char *bad[] = {
      "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue", /* no close */
      "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--XyZ--",
      "--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--",     /* no name */
      "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--XyZ--", /* open quote */
      "--XyZ\r\nno colon\r\n\r\nv\r\n--XyZ--",
      "nothing here",
      "--XyZgarbage",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    srv_form f;
    srv_form_init(&f);
    char err[256] = "";
    assert_int_equal(srv_form_parse_multipart(&f, "multipart/form-data; boundary=XyZ", bad[i],
                                              strlen(bad[i]), err, sizeof err),
                     -1);
    assert_true(err[0] != 0);
    srv_form_clear(&f);
  }
  srv_form f;
  srv_form_init(&f);
  char err[256];
  assert_int_equal(srv_form_parse_multipart(&f, "multipart/form-data", MP, sizeof MP - 1, err,
                                            sizeof err),
                   -1);
  char longb[128] = "multipart/form-data; boundary=";
  memset(longb + strlen(longb), 'b', 80);
  assert_int_equal(srv_form_parse_multipart(&f, longb, MP, sizeof MP - 1, err, sizeof err), -1);
  srv_form_clear(&f);
}

static void multipart_field_count_is_bounded(void **state) {
  (void)state;
  srv_buf b = {0};
  for (int i = 0; i < SRV_FORM_MAX_FIELDS + 1; i++)
    srv_buf_printf(&b, "--B\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n", i);
  srv_buf_puts(&b, "--B--\r\n");
  srv_form f;
  srv_form_init(&f);
  char err[256];
  assert_int_equal(srv_form_parse_multipart(&f, "multipart/form-data; boundary=B", b.p, b.len,
                                            err, sizeof err),
                   -1);
  assert_non_null(strstr(err, "too many"));
  srv_form_clear(&f);
  srv_buf_free(&b);
}

static void urlencoded_bodies_decode(void **state) {
  (void)state;
  srv_form f;
  srv_form_init(&f);
  char err[256];
  const char *body = "project_id=6f1c&name=a+b%20c&empty=&flag&x=%27%3B";
  assert_int_equal(srv_form_parse_urlencoded(&f, body, strlen(body), err, sizeof err), 0);
  assert_string_equal(srv_form_get(&f, "name", NULL)->value, "a b c");
  assert_string_equal(srv_form_get(&f, "empty", NULL)->value, "");
  assert_string_equal(srv_form_get(&f, "flag", NULL)->value, "");
  assert_string_equal(srv_form_get(&f, "x", NULL)->value, "';");
  srv_form_clear(&f);
  const char *bad[] = {"a=%zz", "a=%4", "a=%", "%g1=b"};
  for (size_t i = 0; i < 4; i++) {
    srv_form_init(&f);
    assert_int_equal(srv_form_parse_urlencoded(&f, bad[i], strlen(bad[i]), err, sizeof err), -1);
    srv_form_clear(&f);
  }
  srv_form_init(&f);
  assert_int_equal(srv_form_parse_body(&f, "text/plain", "a=b", 3, err, sizeof err), -1);
  assert_int_equal(srv_form_parse_body(&f, NULL, "", 0, err, sizeof err), 0);
  srv_form_clear(&f);
}

static void json_bodies_read_as_flat_forms(void **state) {
  (void)state;
  srv_form f;
  srv_form_init(&f);
  char err[256];
  const char *body = "{\"email\":\"a@b.example\",\"password\":\"x' OR 1=1 --\",\"n\":3,"
                     "\"t\":true,\"skip\":null}";
  assert_int_equal(srv_form_parse_body(&f, "application/json; charset=utf-8", body, strlen(body),
                                       err, sizeof err), 0);
  assert_string_equal(srv_form_get(&f, "email", NULL)->value, "a@b.example");
  assert_string_equal(srv_form_get(&f, "password", NULL)->value, "x' OR 1=1 --");
  assert_string_equal(srv_form_get(&f, "n", NULL)->value, "3");
  assert_string_equal(srv_form_get(&f, "t", NULL)->value, "true");
  assert_null(srv_form_get(&f, "skip", NULL));
  srv_form_clear(&f);
  const char *bad[] = {"[1]", "\"x\"", "{\"a\":{\"b\":1}}", "{\"a\":[1]}", "{\"a\":", "{\"\":\"v\"}",
                       "nul"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    srv_form_init(&f);
    assert_int_equal(srv_form_parse_json(&f, bad[i], strlen(bad[i]), err, sizeof err), -1);
    srv_form_clear(&f);
  }
  srv_form_init(&f);
  assert_int_equal(srv_form_parse_json(&f, "{\"a\":\"b\"}\0x", 10, err, sizeof err), -1);
  srv_form_clear(&f);
  /* "application/jsonp" is not JSON */
  srv_form_init(&f);
  assert_int_equal(srv_form_parse_body(&f, "application/jsonx", "{}", 2, err, sizeof err), -1);
  srv_form_clear(&f);
}

/* A JSON body nested hundreds of thousands deep (within SRV_FORM_MAX_JSON) is refused with a
 * 400 message; it must not exhaust the stack (the parser's tree is freed recursively). */
static void deeply_nested_json_is_refused_without_crashing(void **state) {
  (void)state;
  const size_t depth = 400000;
  char *body = malloc(2 * depth + 8);
  assert_non_null(body);
  size_t n = 0;
  n += (size_t)sprintf(body, "{\"a\":");
  memset(body + n, '[', depth);
  n += depth;
  memset(body + n, ']', depth);
  n += depth;
  body[n++] = '}';
  assert_true(n <= SRV_FORM_MAX_JSON);
  srv_form f;
  srv_form_init(&f);
  char err[256] = "";
  assert_int_equal(srv_form_parse_body(&f, "application/json", body, n, err, sizeof err), -1);
  assert_non_null(strstr(err, "nested"));
  assert_int_equal(f.n, 0);
  srv_form_clear(&f);
  free(body);
}

/* ---- static files ----------------------------------------------------------------------- */

static void write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

static void static_files_stay_inside_the_web_folder(void **state) {
  (void)state;
  char root[] = "/tmp/escrowd-web-XXXXXX";
  assert_non_null(mkdtemp(root));
  char p[512], outside[600];
  snprintf(p, sizeof p, "%s/dist", root);
  assert_int_equal(mkdir(p, 0700), 0);
  snprintf(p, sizeof p, "%s/dist/assets", root);
  assert_int_equal(mkdir(p, 0700), 0);
  snprintf(p, sizeof p, "%s/dist/index.html", root);
  write_file(p, "<!doctype html>");
  snprintf(p, sizeof p, "%s/dist/assets/app-1a2b.js", root);
  write_file(p, "export {}");
  snprintf(p, sizeof p, "%s/dist/.env", root);
  write_file(p, "SECRET=1");
  snprintf(outside, sizeof outside, "%s/secret.txt", root);
  write_file(outside, "outside");
  snprintf(p, sizeof p, "%s/dist/link.txt", root);
  assert_int_equal(symlink(outside, p), 0);
  char dist[512];
  snprintf(dist, sizeof dist, "%s/dist", root);

  srv_web_file f;
  assert_int_equal(srv_web_open(dist, "/assets/app-1a2b.js", &f), 0);
  assert_string_equal(f.ctype, "text/javascript; charset=utf-8");
  assert_string_equal(f.cache, "public, max-age=31536000, immutable");
  assert_int_equal((int)f.size, 9);
  close(f.fd);
  assert_int_equal(srv_web_open(dist, "/", &f), 0);
  assert_string_equal(f.ctype, "text/html; charset=utf-8");
  assert_string_equal(f.cache, "no-cache");
  close(f.fd);
  /* an app route without an extension gets index.html; a missing asset does not */
  assert_int_equal(srv_web_open(dist, "/projects/42", &f), 0);
  assert_string_equal(f.ctype, "text/html; charset=utf-8");
  close(f.fd);
  assert_int_equal(srv_web_open(dist, "/assets/missing.js", &f), 404);
  const char *refused[] = {"/../secret.txt", "/assets/../../secret.txt", "/.env", "/link.txt",
                           "//etc/passwd", "/a\\..\\secret.txt", "relative", "/x\n.js"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
    assert_int_equal(srv_web_open(dist, refused[i], &f), 404);
  assert_true(srv_web_is_api_path("/api/v1/me"));
  assert_true(srv_web_is_api_path("/healthz"));
  assert_false(srv_web_is_api_path("/apiary"));
  assert_string_equal(srv_web_content_type("x.unknown"), "application/octet-stream");
  snprintf(p, sizeof p, "rm -rf '%s'", root);
  assert_int_equal(system(p), 0);
}

/* ---- sessions ------------------------------------------------------------------------------ */

static void csrf_token_is_bound_to_the_session(void **state) {
  (void)state;
  const char *s1 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  const char *s2 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB";
  char t1[SRV_CSRF_TOKEN_LEN + 1], t2[SRV_CSRF_TOKEN_LEN + 1];
  dom_csrf_token(s1, t1);
  dom_csrf_token(s2, t2);
  assert_int_equal(strlen(t1), SRV_CSRF_TOKEN_LEN);
  assert_string_not_equal(t1, t2);
  assert_true(dom_csrf_ok(s1, t1));
  assert_false(dom_csrf_ok(s2, t1));
  assert_false(dom_csrf_ok(s1, NULL));
  assert_false(dom_csrf_ok(s1, ""));
  t1[5] ^= 1;
  assert_false(dom_csrf_ok(s1, t1));
}

/* ---- routing, names, JSON ------------------------------------------------------------------- */

static void h_a(struct srv_request *q, struct srv_response *r) { (void)q, (void)r; }
static void h_b(struct srv_request *q, struct srv_response *r) { (void)q, (void)r; }

static void routes_match_with_and_without_trailing_slash(void **state) {
  (void)state;
  const srv_route t[] = {{"GET", "/api/v1/x", h_a, 0}, {"POST", "/api/v1/x", h_b, 0}};
  int st;
  char allow[64];
  assert_ptr_equal(srv_route_find(t, 2, "GET", "/api/v1/x/", &st, allow, sizeof allow)->handler, h_a);
  assert_ptr_equal(srv_route_find(t, 2, "POST", "/api/v1/x", &st, allow, sizeof allow)->handler, h_b);
  assert_null(srv_route_find(t, 2, "PUT", "/api/v1/x", &st, allow, sizeof allow));
  assert_int_equal(st, 405);
  assert_string_equal(allow, "GET, POST");
  assert_null(srv_route_find(t, 2, "GET", "/api/v1/x//", &st, allow, sizeof allow));
  assert_int_equal(st, 404);
  assert_null(srv_route_find(t, 2, "GET", "/api/v1/xy", &st, allow, sizeof allow));
  assert_int_equal(st, 404);
}

static void file_names_with_paths_are_refused(void **state) {
  (void)state;
  assert_true(srv_valid_file_name("wcek_1.key.bkenc"));
  assert_true(srv_valid_file_name("Spec v2.pdf"));
  const char *bad[] = {"", "../x", "a/b", "a\\b", ".", "..", ".hidden", "a\nb", "a\x7f"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_false(srv_valid_file_name(bad[i]));
}

static void json_strings_are_escaped(void **state) {
  (void)state;
  srv_buf b = {0};
  srv_buf_json_str(&b, "a\"b\\c\n\x01\xff\xc3\xa9");
  assert_string_equal(b.p, "\"a\\\"b\\\\c\\n\\u0001\\ufffd\xc3\xa9\"");
  srv_buf_free(&b);
}

/* runs of plain text between escapes, a cut-off UTF-8 sequence at the end, DEL and tabs */
static void json_strings_keep_runs_and_cut_sequences(void **state) {
  (void)state;
  srv_buf b = {0};
  srv_buf_json_str(&b, "plain text \xe2\x82\xac then\t\x7f\"quoted\" end\xe2\x82");
  assert_string_equal(b.p, "\"plain text \xe2\x82\xac then\\t\\u007f\\\"quoted\\\" end\\ufffd\\ufffd\"");
  srv_buf_free(&b);
  srv_buf_json_str(&b, "");
  srv_buf_json_str(&b, NULL);
  srv_buf_json_str(&b, "\xf0\x9f\x98\x80");
  assert_string_equal(b.p, "\"\"null\"\xf0\x9f\x98\x80\"");
  srv_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(jwt_as_the_sample_makes_it_verifies),
      cmocka_unit_test(jwt_refused_for_another_key_or_altered_payload),
      cmocka_unit_test(jwt_algorithms_other_than_rs256_are_refused),
      cmocka_unit_test(jwt_malformed_tokens_are_refused),
      cmocka_unit_test(jwt_claims_expiry_skew_issuer_audience),
      cmocka_unit_test(multipart_as_requests_sends_it),
      cmocka_unit_test(malformed_multipart_is_refused),
      cmocka_unit_test(multipart_field_count_is_bounded),
      cmocka_unit_test(urlencoded_bodies_decode),
      cmocka_unit_test(json_bodies_read_as_flat_forms),
      cmocka_unit_test(deeply_nested_json_is_refused_without_crashing),
      cmocka_unit_test(static_files_stay_inside_the_web_folder),
      cmocka_unit_test(csrf_token_is_bound_to_the_session),
      cmocka_unit_test(routes_match_with_and_without_trailing_slash),
      cmocka_unit_test(file_names_with_paths_are_refused),
      cmocka_unit_test(json_strings_are_escaped),
      cmocka_unit_test(json_strings_keep_runs_and_cut_sequences),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
