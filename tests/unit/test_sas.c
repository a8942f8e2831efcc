/* SAS URLs: strict parsing, the DESIGN §6 judgement, signing per service version, verifying. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <yajl/yajl_tree.h>

#include "testutil.h"
#include "sas_internal.h"

#define DEV_KEY "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define V4_URL                                                                                \
  "https://devstoreaccount1.blob.core.windows.net/ds-q-a-demo?sv=2021-12-02&spr=https%2Chttp" \
  "&st=2024-01-01T00%3A00%3A00Z&se=2099-12-31T23%3A59%3A59Z&sr=c&sp=rl"                       \
  "&sig=SOYbSH9RmxblhMImVRIwvAVX6t1xENFOp7CyPMpgQsE%3D"

/* ---- JSON helpers ----------------------------------------------------------------------- */

static yajl_val load_json(const char *rel) {
  size_t len;
  uint8_t *data = tu_read(tu_vector(rel), &len);
  char err[256];
  yajl_val v = yajl_tree_parse((const char *)data, err, sizeof err);
  free(data);
  if (v == NULL)
    fail_msg("cannot parse %s: %s", rel, err);
  return v;
}

static const char *jstr(yajl_val obj, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val v = yajl_tree_get(obj, path, yajl_t_string);
  return v ? YAJL_GET_STRING(v) : NULL;
}

static yajl_val jget(yajl_val obj, const char *key, yajl_type t) {
  const char *path[] = {key, NULL};
  return yajl_tree_get(obj, path, t);
}

/* ---- the judgement vectors (tests/vectors/sas/check.json) -------------------------------- */

static void judges_every_check_vector_as_documented(void **state) {
  (void)state;
  yajl_val doc = load_json("sas/check.json");
  yajl_val cases = jget(doc, "cases", yajl_t_array);
  yajl_val messages = jget(doc, "messages", yajl_t_object);
  assert_non_null(cases);
  assert_non_null(messages);
  size_t n = YAJL_GET_ARRAY(cases)->len;
  assert_true(n > 50);
  int failures = 0;
  for (size_t i = 0; i < n; i++) {
    yajl_val c = YAJL_GET_ARRAY(cases)->values[i];
    const char *name = jstr(c, "name"), *url = jstr(c, "url"), *now_s = jstr(c, "now");
    const char *want = jstr(c, "status"), *reason = jstr(c, "reason_contains");
    unsigned flags = 0;
    yajl_val fl = jget(c, "flags", yajl_t_array);
    for (size_t k = 0; fl && k < YAJL_GET_ARRAY(fl)->len; k++) {
      const char *f = YAJL_GET_STRING(YAJL_GET_ARRAY(fl)->values[k]);
      if (f && strcmp(f, "allow_loopback_http") == 0)
        flags |= ESCROW_SAS_ALLOW_LOOPBACK_HTTP;
    }
    escrow_time now;
    assert_int_equal(escrow_time_parse(&now, now_s, 1), 0);
    escrow_sas_result r;
    assert_int_equal(escrow_sas_check(&r, url, &now, flags), 0);
    const char *want_msg = jstr(messages, want);
    if (strcmp(r.status_name, want) != 0 || strcmp(r.message, want_msg) != 0 ||
        (reason && strstr(r.reason, reason) == NULL)) {
      print_error("case '%s': got %s (%s), want %s (reason containing '%s')\n", name,
                  r.status_name, r.reason, want, reason ? reason : "");
      failures++;
    }
    /* the status enum and the name agree */
    static const char *const names[] = {"valid", "invalid", "expiring", "expired",
                                        "not yet valid"};
    assert_string_equal(names[r.status], r.status_name);
  }
  yajl_tree_free(doc);
  assert_int_equal(failures, 0);
}

static void never_puts_the_signature_in_a_reason(void **state) {
  (void)state;
  escrow_time now;
  assert_int_equal(escrow_time_parse(&now, "2024-06-01T00:00:00Z", 0), 0);
  const char *urls[] = {
      V4_URL,
      "https://a12.blob.core.windows.net/ds-q-a-demo?sp=r&se=2099-01-01&sv=2021-12-02&sr=c&spr="
      "https&sig=SOYbSH9RmxblhMImVRIwvAVX6t1xENFOp7CyPMpgQsE%3D",
      "https://a12.blob.core.windows.net/ds-q-a-demo?sp=rl&se=2099-01-01&sv=2021-12-02&sr=c&spr="
      "https&sig=SOYbSH9RmxblhMImVRIwvAVX6t1xENFOp7CyP+pgQsE%3D",
      "https://a12.blob.core.windows.net/ds-q-a-demo?sp=rl&se=2099-01-01&sv=2021-12-02&sr=c&spr="
      "https&sig=SOYbSH9RmxblhMImVRIwvAVX6t1xENFOp7CyPMpgQsE%3D&sig=x"};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(urls); i++) {
    escrow_sas_result r;
    assert_int_equal(escrow_sas_check(&r, urls[i], &now, 0), 0);
    assert_null(strstr(r.reason, "SOYbSH9R"));
    assert_null(strstr(escrow_error_last(), "SOYbSH9R"));
  }
}

static void uses_the_system_clock_without_now(void **state) {
  (void)state;
  escrow_sas_result r;
  /* expired in 2023 whatever today is */
  assert_int_equal(escrow_sas_check(&r, "https://acct1.blob.core.windows.net/abc?sp=rl&se=2023"
                                        "-01-01&sv=2021-12-02&sr=c&spr=https&sig=SOYbSH9RmxblhMI"
                                        "mVRIwvAVX6t1xENFOp7CyPMpgQsE%3D",
                                    NULL, 0),
                   0);
  assert_int_equal(r.status, ESCROW_SAS_EXPIRED);
  assert_int_equal(escrow_sas_check(NULL, V4_URL, NULL, 0), ESCROW_E_INVALID);
}

/* ---- parsing ------------------------------------------------------------------------------ */

static void parses_a_virtual_host_url_into_its_parts(void **state) {
  (void)state;
  escrow_sas *s;
  assert_int_equal(escrow_sas_parse(&s, V4_URL "&restype=container&comp=list", 0), 0);
  assert_string_equal(escrow_sas_scheme(s), "https");
  assert_string_equal(escrow_sas_host(s), "devstoreaccount1.blob.core.windows.net");
  assert_int_equal(escrow_sas_port(s), -1);
  assert_int_equal(escrow_sas_path_style(s), 0);
  assert_string_equal(escrow_sas_account(s), "devstoreaccount1");
  assert_string_equal(escrow_sas_container(s), "ds-q-a-demo");
  assert_null(escrow_sas_blob(s));
  assert_int_equal(escrow_sas_get_kind(s), ESCROW_SAS_SERVICE);
  assert_string_equal(escrow_sas_param(s, "spr"), "https,http");
  assert_string_equal(escrow_sas_param(s, "st"), "2024-01-01T00:00:00Z");
  assert_null(escrow_sas_param(s, "SP"));
  assert_string_equal(escrow_sas_endpoint(s), "https://devstoreaccount1.blob.core.windows.net");
  /* the token keeps the SAS parameters as written and drops the operation ones */
  assert_non_null(strstr(escrow_sas_token(s), "spr=https%2Chttp"));
  assert_null(strstr(escrow_sas_token(s), "restype"));
  assert_null(strstr(escrow_sas_token(s), "comp"));
  escrow_sas_free(s);
}

static void parses_a_path_style_emulator_url(void **state) {
  (void)state;
  escrow_sas *s;
  assert_int_equal(escrow_sas_parse(&s, "http://127.0.0.1:10000/devstoreaccount1/ds-q-a-demo/"
                                        "data/hello%20world%20%C3%BC.txt?sv=2021-12-02&sr=b&"
                                        "sp=r&se=2099-01-01&sig=x",
                                    0),
                   0);
  assert_string_equal(escrow_sas_scheme(s), "http");
  assert_string_equal(escrow_sas_host(s), "127.0.0.1");
  assert_int_equal(escrow_sas_port(s), 10000);
  assert_int_equal(escrow_sas_path_style(s), 1);
  assert_string_equal(escrow_sas_account(s), "devstoreaccount1");
  assert_string_equal(escrow_sas_container(s), "ds-q-a-demo");
  assert_string_equal(escrow_sas_blob(s), "data/hello world \xc3\xbc.txt");
  assert_string_equal(escrow_sas_endpoint(s), "http://127.0.0.1:10000/devstoreaccount1");
  escrow_sas_free(s);
  /* forced path style on a named host */
  assert_int_equal(escrow_sas_parse(&s, "http://azurite:10000/acct/ctr?sv=2021-12-02&sig=x",
                                    ESCROW_SAS_PATH_STYLE),
                   0);
  assert_string_equal(escrow_sas_account(s), "acct");
  assert_string_equal(escrow_sas_container(s), "ctr");
  escrow_sas_free(s);
  /* IPv6 loopback */
  assert_int_equal(escrow_sas_parse(&s, "http://[::1]:8080/acct/ctr?sv=2021-12-02&sig=x", 0), 0);
  assert_string_equal(escrow_sas_host(s), "[::1]");
  assert_string_equal(escrow_sas_endpoint(s), "http://[::1]:8080/acct");
  assert_true(escrow__host_is_loopback(escrow_sas_host(s)));
  escrow_sas_free(s);
}

static void tells_account_and_user_delegation_sas_apart(void **state) {
  (void)state;
  escrow_sas *s;
  assert_int_equal(escrow_sas_parse(&s, "https://acct1.blob.core.windows.net/?sv=2021-12-02&ss=b"
                                        "&srt=sco&sp=rl&se=2099-01-01&sig=x",
                                    0),
                   0);
  assert_int_equal(escrow_sas_get_kind(s), ESCROW_SAS_ACCOUNT);
  assert_null(escrow_sas_container(s));
  escrow_sas_free(s);
  assert_int_equal(escrow_sas_parse(&s, "https://acct1.blob.core.windows.net/c1c?sv=2021-12-02&"
                                        "sr=c&skoid=abc&sp=rl&se=2099-01-01&sig=x",
                                    0),
                   0);
  assert_int_equal(escrow_sas_get_kind(s), ESCROW_SAS_USER_DELEGATION);
  escrow_sas_free(s);
}

static void refuses_malformed_urls_with_a_reason(void **state) {
  (void)state;
  static const struct {
    const char *url;
    int code;
    const char *reason;
  } bad[] = {
      {"ftp://acct1.blob.core.windows.net/c?sig=x", ESCROW_E_FORMAT, "http"},
      {"https://acct1.blob.core.windows.net/c", ESCROW_E_FORMAT, "no SAS token"},
      {"https://acct1.blob.core.windows.net/c?", ESCROW_E_FORMAT, "no SAS token"},
      {"https:///c?sig=x", ESCROW_E_FORMAT, "no host"},
      {"https://user@acct1.blob.core.windows.net/c?sig=x", ESCROW_E_FORMAT, "user name"},
      {"https://acct1.blob.core.windows.net:0/c?sig=x", ESCROW_E_FORMAT, "port"},
      {"https://acct1.blob.core.windows.net:99999/c?sig=x", ESCROW_E_FORMAT, "port"},
      {"https://acct1.blob.core.windows.net:/c?sig=x", ESCROW_E_FORMAT, "port"},
      {"https://acct1.blob.core.windows.net/c?sig=x&sig=y", ESCROW_E_FORMAT, "more than once"},
      {"https://acct1.blob.core.windows.net/c?sig=x&&sv=1", ESCROW_E_FORMAT, "empty parameter"},
      {"https://acct1.blob.core.windows.net/c?sig=x&", ESCROW_E_FORMAT, "empty parameter"},
      {"https://acct1.blob.core.windows.net/c?=x", ESCROW_E_FORMAT, "empty name"},
      {"https://acct1.blob.core.windows.net/c?sig", ESCROW_E_FORMAT, "no '='"},
      {"https://acct1.blob.core.windows.net/c?s%69g=x", ESCROW_E_FORMAT, "not allowed"},
      {"https://acct1.blob.core.windows.net/c?sig=%4", ESCROW_E_FORMAT, "hex"},
      {"https://acct1.blob.core.windows.net/c?sig=%", ESCROW_E_FORMAT, "hex"},
      {"https://acct1.blob.core.windows.net/c?sig=%00", ESCROW_E_FORMAT, "NUL"},
      {"https://acct1.blob.core.windows.net/c?rscd=a%0Db&sig=x", ESCROW_E_FORMAT, "control"},
      {"https://acct1.blob.core.windows.net/c?rscd=%FF&sig=x", ESCROW_E_FORMAT, "UTF-8"},
      {"https://acct1.blob.core.windows.net/c?rscd=a b&sig=x", ESCROW_E_FORMAT, "raw space"},
      {"https://acct1.blob.core.windows.net/c d?sig=x", ESCROW_E_FORMAT, "space"},
      {"https://acct1.blob.core.windows.net/c?sig=x\n", ESCROW_E_FORMAT, "control"},
      {"https://acct1.blob.core.windows.net/c?se=2024-1-01&sig=x", ESCROW_E_FORMAT, "se"},
      {"https://acct1.blob.core.windows.net/c?st=2024-01-01T25:00Z&sig=x", ESCROW_E_FORMAT, "st"},
      {"https://acct1.blob.core.windows.net/c?sv=21-12-02&sig=x", ESCROW_E_FORMAT, "sv"},
      {"https://acct1.blob.core.windows.net/c?sr=c&ss=b&sig=x", ESCROW_E_FORMAT, "both"},
      {"http://127.0.0.1:10000/?sig=x", ESCROW_E_FORMAT, "account"},
      {"https://[::1/c?sig=x", ESCROW_E_FORMAT, "]"},
  };
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(bad); i++) {
    escrow_sas *s = (escrow_sas *)1;
    int rc = escrow_sas_parse(&s, bad[i].url, 0);
    if (rc != bad[i].code || strstr(escrow_error_last(), bad[i].reason) == NULL)
      fail_msg("'%s': got %d '%s', want %d with '%s'", bad[i].url, rc, escrow_error_last(),
               bad[i].code, bad[i].reason);
    assert_null(s);
  }
  escrow_sas *s;
  assert_int_equal(escrow_sas_parse(&s, NULL, 0), ESCROW_E_INVALID);
  /* limits */
  size_t n = 70 * 1024;
  char *big = malloc(n + 1);
  memset(big, 'a', n);
  memcpy(big, "https://acct1.blob.core.windows.net/c?x=", 40);
  big[n] = '\0';
  assert_int_equal(escrow_sas_parse(&s, big, 0), ESCROW_E_LIMIT);
  escrow__sb b = {0};
  escrow__sb_adds(&b, "https://acct1.blob.core.windows.net/c?");
  for (int i = 0; i < 300; i++) {
    char p[16];
    snprintf(p, sizeof p, "%sp%d=1", i ? "&" : "", i);
    escrow__sb_adds(&b, p);
  }
  assert_false(b.oom);
  assert_int_equal(escrow_sas_parse(&s, b.s, 0), ESCROW_E_LIMIT);
  escrow__sb_free(&b);
  free(big);
}

/* ---- times -------------------------------------------------------------------------------- */

static void reads_azure_dates_and_rfc3339_offsets(void **state) {
  (void)state;
  escrow_time t;
  assert_int_equal(escrow_time_parse(&t, "1970-01-01T00:00:00Z", 0), 0);
  assert_int_equal(t.sec, 0);
  assert_int_equal(escrow_time_parse(&t, "2024-02-29", 0), 0);
  assert_int_equal(t.sec, 1709164800);
  assert_int_equal(escrow_time_parse(&t, "2024-02-29T12:34Z", 0), 0);
  assert_int_equal(t.sec, 1709164800 + 12 * 3600 + 34 * 60);
  assert_int_equal(escrow_time_parse(&t, "2099-12-31T23:59:59.1234567Z", 0), 0);
  assert_int_equal(t.sec, 4102444799);
  assert_int_equal(t.nsec, 123456700);
  assert_int_equal(escrow_time_parse(&t, "2024-06-01T14:00:00+02:00", 1), 0);
  assert_int_equal(t.sec, 1717243200);
  assert_int_equal(escrow_time_parse(&t, "2024-06-01T10:30:00.123456789-01:30", 1), 0);
  assert_int_equal(t.sec, 1717243200);
  assert_int_equal(t.nsec, 123456789);
  static const char *const bad[] = {"", "2024", "2024-02-30", "2023-02-29", "1900-02-29",
                                    "2024-06-01T24:00:00Z", "2024-06-01T12:60Z",
                                    "2024-06-01T12:00:60Z", "2024-06-01T12:00:00",
                                    "2024-06-01T12:00:00.Z", "2024-06-01t12:00:00Z",
                                    "2024-06-01T12:00:00+02:00", "2024-06-01 12:00:00Z",
                                    "0999-01-01", "2024-06-01T12:00:00.12345678Z",
                                    "2024-06-01T12:00:00ZZ", "+2024-06-01"};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(bad); i++)
    if (escrow_time_parse(&t, bad[i], 0) != ESCROW_E_FORMAT)
      fail_msg("'%s' was accepted", bad[i]);
  assert_int_equal(escrow_time_parse(&t, "2024-06-01T12:00:00+24:00", 1), ESCROW_E_FORMAT);
  assert_int_equal(escrow_time_parse(&t, "2024-06-01T12:00:00.1234567890Z", 1), ESCROW_E_FORMAT);
  char buf[21];
  escrow_time x = {1717243200, 5};
  escrow_time_format(buf, x);
  assert_string_equal(buf, "2024-06-01T12:00:00Z");
  x.sec = 4102444799;
  escrow_time_format(buf, x);
  assert_string_equal(buf, "2099-12-31T23:59:59Z");
  escrow_time now = escrow_time_now();
  assert_true(now.sec > 1700000000);
}

/* ---- signing: the vectors ----------------------------------------------------------------- */

static void options_from_case(escrow_sas_sign_options *o, yajl_val c) {
  escrow_sas_sign_options init = ESCROW_SAS_SIGN_OPTIONS_INIT;
  *o = init;
  const char *kind = jstr(c, "kind");
  o->kind = strcmp(kind, "account") == 0 ? ESCROW_SAS_ACCOUNT : ESCROW_SAS_SERVICE;
  o->account = jstr(c, "account");
  o->container = jstr(c, "container");
  o->blob = jstr(c, "blob");
  o->resource = jstr(c, "resource");
  o->snapshot = jstr(c, "snapshot");
  o->identifier = jstr(c, "identifier");
  o->cache_control = jstr(c, "rscc");
  o->content_disposition = jstr(c, "rscd");
  o->content_encoding = jstr(c, "rsce");
  o->content_language = jstr(c, "rscl");
  o->content_type = jstr(c, "rsct");
  o->services = jstr(c, "services");
  o->resource_types = jstr(c, "resource_types");
  o->permissions = jstr(c, "permissions");
  o->start = jstr(c, "start");
  o->expiry = jstr(c, "expiry");
  o->ip = jstr(c, "ip");
  o->protocol = jstr(c, "protocol");
  o->service_version = jstr(c, "version");
  o->encryption_scope = jstr(c, "encryption_scope");
}

/* The decoded value of name in a query string (static buffer). */
static const char *query_value(const char *query, const char *name) {
  static char out[512];
  size_t nl = strlen(name);
  const char *p = query;
  while (p && *p) {
    if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
      const char *e = strchr(p, '&');
      size_t n = e ? (size_t)(e - p - nl - 1) : strlen(p + nl + 1);
      char *d;
      assert_int_equal(escrow__pct_decode(&d, p + nl + 1, n, "test"), 0);
      snprintf(out, sizeof out, "%s", d);
      escrow__free(d);
      return out;
    }
    p = strchr(p, '&');
    if (p)
      p++;
  }
  return NULL;
}

static void signs_every_vector_like_the_sdk(void **state) {
  (void)state;
  yajl_val doc = load_json("sas/sign.json");
  yajl_val cases = jget(doc, "cases", yajl_t_array);
  assert_non_null(cases);
  size_t n = YAJL_GET_ARRAY(cases)->len;
  assert_true(n >= 150);
  int failures = 0;
  for (size_t i = 0; i < n; i++) {
    yajl_val c = YAJL_GET_ARRAY(cases)->values[i];
    escrow_sas_sign_options o;
    options_from_case(&o, c);
    char *q = NULL;
    int rc = escrow_sas_sign(&q, &o, jstr(c, "key"));
    if (rc != 0) {
      print_error("case '%s': sign failed: %s\n", jstr(c, "name"), escrow_error_last());
      failures++;
      continue;
    }
    const char *sig = query_value(q, "sig");
    if (sig == NULL || strcmp(sig, jstr(c, "sig")) != 0) {
      print_error("case '%s': sig %s, want %s\n", jstr(c, "name"), sig ? sig : "(none)",
                  jstr(c, "sig"));
      failures++;
    }
    escrow_free(q);
    const char *want_sts = jstr(c, "string_to_sign");
    if (want_sts) {
      char *sts;
      assert_int_equal(escrow_sas_string_to_sign(&sts, &o), 0);
      if (strcmp(sts, want_sts) != 0) {
        print_error("case '%s': string-to-sign differs\n", jstr(c, "name"));
        failures++;
      }
      escrow_free(sts);
    }
  }
  yajl_tree_free(doc);
  assert_int_equal(failures, 0);
}

static void verifies_what_it_signs_and_refuses_a_changed_signature(void **state) {
  (void)state;
  yajl_val doc = load_json("sas/sign.json");
  yajl_val cases = jget(doc, "cases", yajl_t_array);
  size_t n = YAJL_GET_ARRAY(cases)->len;
  for (size_t i = 0; i < n; i++) {
    yajl_val c = YAJL_GET_ARRAY(cases)->values[i];
    escrow_sas_sign_options o;
    options_from_case(&o, c);
    char *url;
    assert_int_equal(escrow_sas_sign_url(&url, NULL, &o, jstr(c, "key")), 0);
    /* the snapshot or version id travels as a request parameter */
    char *full = url;
    if (o.resource && strcmp(o.resource, "b") != 0) {
      escrow__sb b = {0};
      escrow__sb_adds(&b, url);
      escrow__sb_adds(&b, strcmp(o.resource, "bs") == 0 ? "&snapshot=" : "&versionid=");
      escrow__sb_add_pct(&b, o.snapshot, false);
      full = b.s;
      escrow_free(url);
    }
    escrow_sas *s;
    assert_int_equal(escrow_sas_parse(&s, full, 0), 0);
    if (escrow_sas_verify(s, jstr(c, "key")) != 0)
      fail_msg("case '%s': %s", jstr(c, "name"), escrow_error_last());
    escrow_sas_free(s);
    /* flip one character of sig */
    char *sig = strstr(full, "sig=");
    assert_non_null(sig);
    char *ch = sig + 4;
    while (*ch == '%')
      ch += 3;
    *ch = *ch == 'A' ? 'B' : 'A';
    if (escrow_sas_parse(&s, full, 0) != 0)
      fail_msg("case '%s': %s", jstr(c, "name"), escrow_error_last());
    assert_int_equal(escrow_sas_verify(s, jstr(c, "key")), ESCROW_E_AUTH);
    assert_null(strstr(escrow_error_last(), sig + 4));
    escrow_sas_free(s);
    escrow__free(full);
  }
  yajl_tree_free(doc);
}

/* The negative vectors of azure-sas.md §8: each change of a signed field breaks V4. */
static void refuses_every_change_to_a_signed_field(void **state) {
  (void)state;
  escrow_sas *s;
  assert_int_equal(escrow_sas_parse(&s, V4_URL, 0), 0);
  assert_int_equal(escrow_sas_verify(s, DEV_KEY), 0);
  escrow_sas_free(s);
  static const char *const changed[] = {
      /* se changed */
      "https://devstoreaccount1.blob.core.windows.net/ds-q-a-demo?sv=2021-12-02&spr=https%2Chttp"
      "&st=2024-01-01T00%3A00%3A00Z&se=2099-12-31T23%3A59%3A58Z&sr=c&sp=rl"
      "&sig=SOYbSH9RmxblhMImVRIwvAVX6t1xENFOp7CyPMpgQsE%3D",
      /* sp reordered */
      "https://devstoreaccount1.blob.core.windows.net/ds-q-a-demo?sv=2021-12-02&spr=https%2Chttp"
      "&st=2024-01-01T00%3A00%3A00Z&se=2099-12-31T23%3A59%3A59Z&sr=c&sp=lr"
      "&sig=SOYbSH9RmxblhMImVRIwvAVX6t1xENFOp7CyPMpgQsE%3D",
      /* spr changed */
      "https://devstoreaccount1.blob.core.windows.net/ds-q-a-demo?sv=2021-12-02&spr=https"
      "&st=2024-01-01T00%3A00%3A00Z&se=2099-12-31T23%3A59%3A59Z&sr=c&sp=rl"
      "&sig=SOYbSH9RmxblhMImVRIwvAVX6t1xENFOp7CyPMpgQsE%3D",
      /* sv relabelled */
      "https://devstoreaccount1.blob.core.windows.net/ds-q-a-demo?sv=2018-11-09&spr=https%2Chttp"
      "&st=2024-01-01T00%3A00%3A00Z&se=2099-12-31T23%3A59%3A59Z&sr=c&sp=rl"
      "&sig=SOYbSH9RmxblhMImVRIwvAVX6t1xENFOp7CyPMpgQsE%3D",
      /* container SAS presented as a blob SAS */
      "https://devstoreaccount1.blob.core.windows.net/ds-q-a-demo/x.csv?sv=2021-12-02&spr=https%2C"
      "http&st=2024-01-01T00%3A00%3A00Z&se=2099-12-31T23%3A59%3A59Z&sr=b&sp=rl"
      "&sig=SOYbSH9RmxblhMImVRIwvAVX6t1xENFOp7CyPMpgQsE%3D",
      /* another account */
      "https://devstoreaccount2.blob.core.windows.net/ds-q-a-demo?sv=2021-12-02&spr=https%2Chttp"
      "&st=2024-01-01T00%3A00%3A00Z&se=2099-12-31T23%3A59%3A59Z&sr=c&sp=rl"
      "&sig=SOYbSH9RmxblhMImVRIwvAVX6t1xENFOp7CyPMpgQsE%3D",
      /* an added signed field */
      V4_URL "&rsct=text%2Fhtml",
  };
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(changed); i++) {
    assert_int_equal(escrow_sas_parse(&s, changed[i], 0), 0);
    if (escrow_sas_verify(s, DEV_KEY) != ESCROW_E_AUTH)
      fail_msg("change %zu verified", i);
    escrow_sas_free(s);
  }
  /* a container SAS still verifies when used on a blob URL inside the container */
  assert_int_equal(escrow_sas_parse(&s, "https://devstoreaccount1.blob.core.windows.net/ds-q-a-"
                                        "demo/x.csv?sv=2021-12-02&spr=https%2Chttp&st=2024-01-01"
                                        "T00%3A00%3A00Z&se=2099-12-31T23%3A59%3A59Z&sr=c&sp=rl&s"
                                        "ig=SOYbSH9RmxblhMImVRIwvAVX6t1xENFOp7CyPMpgQsE%3D",
                                    0),
                   0);
  assert_int_equal(escrow_sas_verify(s, DEV_KEY), 0);
  escrow_sas_free(s);
  /* path style gives the same canonical resource */
  assert_int_equal(escrow_sas_parse(&s, "http://127.0.0.1:10000/devstoreaccount1/ds-q-a-demo?sv="
                                        "2021-12-02&spr=https,http&st=2024-01-01T00:00:00Z&se=20"
                                        "99-12-31T23:59:59Z&sr=c&sp=rl&sig=SOYbSH9RmxblhMImVRIwv"
                                        "AVX6t1xENFOp7CyPMpgQsE%3D",
                                    0),
                   0);
  assert_int_equal(escrow_sas_verify(s, DEV_KEY), 0);
  /* wrong key */
  assert_int_equal(escrow_sas_verify(s, "c2VjcmV0"), ESCROW_E_AUTH);
  assert_int_equal(escrow_sas_verify(s, "not base64!"), ESCROW_E_KEY);
  assert_null(strstr(escrow_error_last(), "not base64"));
  assert_int_equal(escrow_sas_verify(s, ""), ESCROW_E_KEY);
  assert_int_equal(escrow_sas_verify(s, NULL), ESCROW_E_INVALID);
  escrow_sas_free(s);
}

static void verify_explains_what_it_cannot_judge(void **state) {
  (void)state;
  static const struct {
    const char *url;
    int code;
  } cases[] = {
      {"https://a12.blob.core.windows.net/abc?sv=2021-12-02&sr=c&skoid=x&sp=rl&se=2099-01-01&si"
       "g=SOYbSH9RmxblhMImVRIwvAVX6t1xENFOp7CyPMpgQsE%3D",
       ESCROW_E_UNSUPPORTED},
      {"https://a12.blob.core.windows.net/abc?sv=2021-12-02&sr=c&sp=rl&se=2099-01-01",
       ESCROW_E_FORMAT},
      {"https://a12.blob.core.windows.net/abc?sr=c&sp=rl&se=2099-01-01&sig=SOYbSH9RmxblhMImVRIw"
       "vAVX6t1xENFOp7CyPMpgQsE%3D",
       ESCROW_E_FORMAT},
      {"https://a12.blob.core.windows.net/abc?sv=2021-12-02&sr=c&sig=abcd", ESCROW_E_FORMAT},
      {"https://a12.blob.core.windows.net/abc?sv=2021-12-02&sr=c&sig=SOYbSH9RmxblhMImVRIwvAVX6t"
       "1xENFOp7CyP+pgQsE%3D&x=1", 0 /* a raw '+' is a '+' to Base64: it decodes */},
      {"https://a12.blob.core.windows.net/abc?sv=2013-08-15&sr=c&sig=SOYbSH9RmxblhMImVRIwvAVX6t"
       "1xENFOp7CyPMpgQsE%3D",
       ESCROW_E_UNSUPPORTED},
      {"https://a12.blob.core.windows.net/abc?sv=2021-12-02&sig=SOYbSH9RmxblhMImVRIwvAVX6t1xENF"
       "Op7CyPMpgQsE%3D",
       ESCROW_E_FORMAT},
      {"https://a12.blob.core.windows.net/abc?sv=2021-12-02&sr=b&sig=SOYbSH9RmxblhMImVRIwvAVX6t"
       "1xENFOp7CyPMpgQsE%3D",
       ESCROW_E_FORMAT},
      {"https://a12.blob.core.windows.net/?sv=2021-12-02&sr=c&sig=SOYbSH9RmxblhMImVRIwvAVX6t1xE"
       "NFOp7CyPMpgQsE%3D",
       ESCROW_E_FORMAT},
  };
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(cases); i++) {
    escrow_sas *s;
    assert_int_equal(escrow_sas_parse(&s, cases[i].url, 0), 0);
    int rc = escrow_sas_verify(s, DEV_KEY);
    if (cases[i].code == 0)
      assert_int_equal(rc, ESCROW_E_AUTH);
    else if (rc != cases[i].code)
      fail_msg("case %zu: %d (%s)", i, rc, escrow_error_last());
    escrow_sas_free(s);
  }
}

/* ---- signing: options ---------------------------------------------------------------------- */

static void writes_permissions_in_canonical_order_and_encodes_like_the_sdk(void **state) {
  (void)state;
  escrow_sas_sign_options o = ESCROW_SAS_SIGN_OPTIONS_INIT;
  o.account = "devstoreaccount1";
  o.container = "ds-q-a-demo";
  o.permissions = "lr";
  o.start = "2024-01-01T00:00:00Z";
  o.expiry = "2099-12-31T23:59:59Z";
  o.protocol = "https,http";
  o.service_version = "2021-12-02";
  char *q;
  assert_int_equal(escrow_sas_sign(&q, &o, DEV_KEY), 0);
  assert_string_equal(q, "sv=2021-12-02&spr=https%2Chttp&st=2024-01-01T00%3A00%3A00Z&se=2099-12-"
                         "31T23%3A59%3A59Z&sr=c&sp=rl&sig=SOYbSH9RmxblhMImVRIwvAVX6t1xENFOp7CyPM"
                         "pgQsE%3D");
  escrow_free(q);
  char *url;
  o.blob = "data/hello world \xc3\xbc.txt";
  o.permissions = "r";
  assert_int_equal(escrow_sas_sign_url(&url, "http://127.0.0.1:10000/devstoreaccount1/", &o,
                                       DEV_KEY),
                   0);
  assert_non_null(strstr(url, "http://127.0.0.1:10000/devstoreaccount1/ds-q-a-demo/data/hello%2"
                              "0world%20%C3%BC.txt?sv="));
  assert_non_null(strstr(url, "&sr=b&sp=r&sig=gmDDalKzku6plyF%2BkhZV%2Ftpw1a8mlDc%2FZ7n0AOp9o3A"
                              "%3D"));
  escrow_free(url);
  /* default version and host */
  o.blob = NULL;
  o.permissions = "rl";
  o.service_version = NULL;
  assert_int_equal(escrow_sas_sign_url(&url, NULL, &o, DEV_KEY), 0);
  assert_non_null(strstr(url, "https://devstoreaccount1.blob.core.windows.net/ds-q-a-demo?sv="
                              ESCROW_SAS_VERSION_DEFAULT "&"));
  escrow_free(url);
}

static void refuses_signing_options_it_cannot_honour(void **state) {
  (void)state;
  static const struct {
    const char *field, *value;
    int code;
  } cases[] = {
      {"version", "2014-02-14", ESCROW_E_UNSUPPORTED},
      {"version", "2026-04-06", ESCROW_E_UNSUPPORTED},
      {"version", "2021-1-1", ESCROW_E_INVALID},
      {"permissions", "rlq", ESCROW_E_INVALID},
      {"permissions", "rrl", ESCROW_E_INVALID},
      {"permissions", "", ESCROW_E_INVALID},
      {"permissions", "rlf", ESCROW_E_UNSUPPORTED}, /* f needs 2021-04-10 */
      {"permissions", "rlt", ESCROW_E_UNSUPPORTED}, /* t needs 2019-12-12 */
      {"expiry", NULL, ESCROW_E_INVALID},
      {"expiry", "tomorrow", ESCROW_E_INVALID},
      {"expiry", "2023-01-01T00:00:00Z", ESCROW_E_INVALID}, /* before the start */
      {"start", "2024-01-01T00:00:00+01:00", ESCROW_E_INVALID},
      {"protocol", "http", ESCROW_E_INVALID},
      {"ip", "10.0.0.256", ESCROW_E_INVALID},
      {"ip", "10.0.0.1-", ESCROW_E_INVALID},
      {"account", "Dev", ESCROW_E_INVALID},
      {"account", NULL, ESCROW_E_INVALID},
      {"container", NULL, ESCROW_E_INVALID},
      {"container", "a/b", ESCROW_E_INVALID},
      {"resource", "d", ESCROW_E_INVALID},
      {"resource", "bs", ESCROW_E_INVALID}, /* no blob */
      {"blob", "", ESCROW_E_INVALID},
      {"encryption_scope", "s1", ESCROW_E_UNSUPPORTED},
      {"services", "b", ESCROW_E_INVALID},
      {"content_type", "text/csv\r\nX-Evil: 1", ESCROW_E_INVALID},
      {"kind", "ud", ESCROW_E_UNSUPPORTED},
  };
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(cases); i++) {
    escrow_sas_sign_options o = ESCROW_SAS_SIGN_OPTIONS_INIT;
    o.account = "devstoreaccount1";
    o.container = "ds-q-a-demo";
    o.permissions = "rl";
    o.start = "2024-01-01T00:00:00Z";
    o.expiry = "2099-12-31T23:59:59Z";
    o.service_version = "2019-10-10";
    const char *f = cases[i].field, *v = cases[i].value;
    if (!strcmp(f, "version")) o.service_version = v;
    else if (!strcmp(f, "permissions")) o.permissions = v;
    else if (!strcmp(f, "expiry")) o.expiry = v;
    else if (!strcmp(f, "start")) o.start = v;
    else if (!strcmp(f, "protocol")) o.protocol = v;
    else if (!strcmp(f, "ip")) o.ip = v;
    else if (!strcmp(f, "account")) o.account = v;
    else if (!strcmp(f, "container")) o.container = v;
    else if (!strcmp(f, "resource")) o.resource = v;
    else if (!strcmp(f, "blob")) o.blob = v;
    else if (!strcmp(f, "encryption_scope")) o.encryption_scope = v;
    else if (!strcmp(f, "services")) o.services = v;
    else if (!strcmp(f, "content_type")) o.content_type = v;
    else if (!strcmp(f, "kind")) o.kind = ESCROW_SAS_USER_DELEGATION;
    char *q = (char *)1;
    int rc = escrow_sas_sign(&q, &o, DEV_KEY);
    if (rc != cases[i].code)
      fail_msg("%s=%s: got %d (%s), want %d", f, v ? v : "NULL", rc, escrow_error_last(),
               cases[i].code);
    assert_null(q);
  }
  /* bad keys, and the key never shows in a message */
  escrow_sas_sign_options o = ESCROW_SAS_SIGN_OPTIONS_INIT;
  o.account = "devstoreaccount1";
  o.container = "ds-q-a-demo";
  o.permissions = "rl";
  o.expiry = "2099-12-31T23:59:59Z";
  char *q;
  assert_int_equal(escrow_sas_sign(&q, &o, "Eby8vdM02xNOcqFl*"), ESCROW_E_KEY);
  assert_null(strstr(escrow_error_last(), "Eby8"));
  assert_int_equal(escrow_sas_sign(&q, &o, ""), ESCROW_E_KEY);
  assert_int_equal(escrow_sas_sign(&q, &o, NULL), ESCROW_E_INVALID);
  assert_int_equal(escrow_sas_sign(&q, NULL, DEV_KEY), ESCROW_E_INVALID);
  assert_int_equal(escrow_sas_sign(NULL, &o, DEV_KEY), ESCROW_E_INVALID);
  o.version = 99;
  assert_int_equal(escrow_sas_sign(&q, &o, DEV_KEY), ESCROW_E_INVALID);
  o.version = ESCROW_SAS_SIGN_OPTIONS_VERSION;
  assert_int_equal(escrow_sas_sign_url(&q, "ftp://x", &o, DEV_KEY), ESCROW_E_INVALID);
  /* a key with a trailing newline (read from a file) is fine */
  assert_int_equal(escrow_sas_sign(&q, &o, DEV_KEY "\n"), 0);
  escrow_free(q);
  /* stored policy: no expiry or permissions needed */
  o.permissions = NULL;
  o.expiry = NULL;
  o.identifier = "readers";
  assert_int_equal(escrow_sas_sign(&q, &o, DEV_KEY), 0);
  assert_null(strstr(q, "se="));
  assert_non_null(strstr(q, "si=readers"));
  escrow_free(q);
}

/* ---- allocation failures ------------------------------------------------------------------- */

typedef struct alloc_ctx {
  escrow_sas *s;
  char *out;
} alloc_ctx;

static int op_parse_verify(void *p) {
  alloc_ctx *c = p;
  int rc = escrow_sas_parse(&c->s, V4_URL "&restype=container&comp=list", 0);
  if (rc)
    return rc;
  return escrow_sas_verify(c->s, DEV_KEY);
}

static int op_check(void *p) {
  (void)p;
  escrow_sas_result r;
  escrow_time now = {1717243200, 0};
  int rc = escrow_sas_check(&r, V4_URL, &now, 0);
  if (rc)
    return rc;
  /* the judgement must not change under memory pressure: it is invalid (spr) or NOMEM */
  return r.status == ESCROW_SAS_INVALID && strstr(r.reason, "HTTPS-only") ? 0 : ESCROW_E_STATE;
}

static int op_sign_url(void *p) {
  alloc_ctx *c = p;
  escrow_sas_sign_options o = ESCROW_SAS_SIGN_OPTIONS_INIT;
  o.account = "devstoreaccount1";
  o.container = "ds-q-a-demo";
  o.blob = "a/b c.csv";
  o.permissions = "r";
  o.expiry = "2099-12-31T23:59:59Z";
  return escrow_sas_sign_url(&c->out, NULL, &o, DEV_KEY);
}

static void cleanup_ctx(void *p) {
  alloc_ctx *c = p;
  escrow_sas_free(c->s);
  escrow_free(c->out);
  c->s = NULL;
  c->out = NULL;
}

static void survives_every_allocation_failure(void **state) {
  (void)state;
  alloc_ctx c = {0};
  assert_true(tu_alloc_failures(op_parse_verify, cleanup_ctx, &c, 0) > 5);
  assert_true(tu_alloc_failures(op_check, cleanup_ctx, &c, 0) > 3);
  assert_true(tu_alloc_failures(op_sign_url, cleanup_ctx, &c, 0) > 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(judges_every_check_vector_as_documented),
      cmocka_unit_test(never_puts_the_signature_in_a_reason),
      cmocka_unit_test(uses_the_system_clock_without_now),
      cmocka_unit_test(parses_a_virtual_host_url_into_its_parts),
      cmocka_unit_test(parses_a_path_style_emulator_url),
      cmocka_unit_test(tells_account_and_user_delegation_sas_apart),
      cmocka_unit_test(refuses_malformed_urls_with_a_reason),
      cmocka_unit_test(reads_azure_dates_and_rfc3339_offsets),
      cmocka_unit_test(signs_every_vector_like_the_sdk),
      cmocka_unit_test(verifies_what_it_signs_and_refuses_a_changed_signature),
      cmocka_unit_test(refuses_every_change_to_a_signed_field),
      cmocka_unit_test(verify_explains_what_it_cannot_judge),
      cmocka_unit_test(writes_permissions_in_canonical_order_and_encodes_like_the_sdk),
      cmocka_unit_test(refuses_signing_options_it_cannot_honour),
      cmocka_unit_test(survives_every_allocation_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
