/* The blob client: the List Blobs reader (sans-I/O), file:// datasets, decrypting downloads,
 * and the checks escrow_blob_open makes before any traffic. HTTP behaviour against a real
 * service is tested with Azurite (tests/interop/azurite_*.test.mjs). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "testutil.h"
#include "blob_internal.h"
#include "sas_internal.h"

/* ---- the List Blobs reader ----------------------------------------------------------------- */

typedef struct seen {
  char names[16][1100];
  uint64_t sizes[16];
  char md5[16][64];
  int has_md5[16];
  size_t n;
  int stop_after; /* return 7 after this many (0: never) */
} seen;

static int collect(void *payload, const escrow_blob_item *it) {
  seen *s = payload;
  if (s->n < 16) {
    snprintf(s->names[s->n], sizeof s->names[0], "%s", it->name);
    s->sizes[s->n] = it->size;
    s->has_md5[s->n] = it->content_md5 != NULL;
    if (it->content_md5)
      snprintf(s->md5[s->n], sizeof s->md5[0], "%s", it->content_md5);
  }
  s->n++;
  return s->stop_after && s->n >= (size_t)s->stop_after ? 7 : 0;
}

static const char PAGE[] =
    "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?>"
    "<EnumerationResults ServiceEndpoint=\"http://127.0.0.1:10000/devstoreaccount1\" "
    "ContainerName=\"ds\"><Prefix>data/</Prefix><Marker/><MaxResults>2</MaxResults><Blobs>"
    "<Blob><Name>data/a.csv.bkenc</Name><Properties><Creation-Time>Tue, 01 Oct 2024 10:00:00 GMT"
    "</Creation-Time><Last-Modified>Tue, 01 Oct 2024 10:00:00 GMT</Last-Modified>"
    "<Etag>0x8DCE1</Etag><Content-Length>1234</Content-Length><Content-Type>application/"
    "octet-stream</Content-Type><Content-MD5>1B2M2Y8AsgTpgAmY7PhCfg==</Content-MD5>"
    "<BlobType>BlockBlob</BlobType></Properties><Metadata><k>v</k></Metadata></Blob>"
    "<Blob><Name Encoded=\"true\">data/b%20%C3%BC%0B.csv</Name><Properties>"
    "<Content-Length>0</Content-Length><Content-MD5 /></Properties></Blob>"
    "<BlobPrefix><Name>data/sub/</Name></BlobPrefix>"
    "</Blobs><NextMarker>2!72!MDAwMDE2IWRhdGEvYi5jc3Yh</NextMarker></EnumerationResults>";

static void reads_a_list_blobs_page_fed_in_any_pieces(void **state) {
  (void)state;
  size_t len = strlen(PAGE);
  size_t steps[] = {len, 1, 7, 64};
  for (size_t k = 0; k < ESCROW__ARRAY_LEN(steps); k++) {
    seen s = {0};
    escrow__blob_list_parser *p;
    assert_int_equal(escrow__blob_list_parser_new(&p, collect, &s), 0);
    for (size_t i = 0; i < len; i += steps[k]) {
      size_t n = len - i < steps[k] ? len - i : steps[k];
      assert_int_equal(escrow__blob_list_parser_feed(p, PAGE + i, n), 0);
    }
    char *marker;
    assert_int_equal(escrow__blob_list_parser_finish(p, &marker), 0);
    assert_string_equal(marker, "2!72!MDAwMDE2IWRhdGEvYi5jc3Yh");
    escrow__free(marker);
    assert_int_equal(s.n, 2);
    assert_int_equal(escrow__blob_list_parser_count(p), 2);
    assert_string_equal(s.names[0], "data/a.csv.bkenc");
    assert_int_equal(s.sizes[0], 1234);
    assert_true(s.has_md5[0]);
    assert_string_equal(s.md5[0], "1B2M2Y8AsgTpgAmY7PhCfg==");
    assert_string_equal(s.names[1], "data/b \xc3\xbc\x0b.csv"); /* Encoded="true" */
    assert_int_equal(s.sizes[1], 0);
    assert_false(s.has_md5[1]);
    escrow__blob_list_parser_free(p);
  }
}

static void reports_the_end_of_a_listing_without_a_marker(void **state) {
  (void)state;
  static const char *const docs[] = {
      "<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>",
      "<EnumerationResults><Blobs></Blobs></EnumerationResults>",
  };
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(docs); i++) {
    seen s = {0};
    escrow__blob_list_parser *p;
    assert_int_equal(escrow__blob_list_parser_new(&p, collect, &s), 0);
    assert_int_equal(escrow__blob_list_parser_feed(p, docs[i], strlen(docs[i])), 0);
    char *marker = (char *)1;
    assert_int_equal(escrow__blob_list_parser_finish(p, &marker), 0);
    assert_null(marker);
    assert_int_equal(s.n, 0);
    escrow__blob_list_parser_free(p);
  }
}

static void refuses_what_is_not_a_list_blobs_answer(void **state) {
  (void)state;
  char longname[1200] = "<EnumerationResults><Blobs><Blob><Name>";
  size_t l = strlen(longname);
  memset(longname + l, 'a', 1030);
  strcpy(longname + l + 1030, "</Name></Blob></Blobs></EnumerationResults>");
  const struct {
    const char *doc;
    int code;
    const char *reason;
  } bad[] = {
      {"<Error><Code>AuthorizationFailure</Code></Error>", ESCROW_E_FORMAT, "root"},
      {"<EnumerationResults><Blobs><Blob><Name>x</Name>", ESCROW_E_FORMAT, "XML"},
      {"<EnumerationResults><Blobs><Blob><Properties><Content-Length>1</Content-Length>"
       "</Properties></Blob></Blobs></EnumerationResults>",
       ESCROW_E_FORMAT, "<Name>"},
      {"<EnumerationResults><Blobs><Blob><Name>x</Name></Blob></Blobs></EnumerationResults>",
       ESCROW_E_FORMAT, "Content-Length"},
      {"<EnumerationResults><Blobs><Blob><Name>x</Name><Properties><Content-Length>-1"
       "</Content-Length></Properties></Blob></Blobs></EnumerationResults>",
       ESCROW_E_FORMAT, "Content-Length"},
      {"<EnumerationResults><Blobs><Blob><Name>x</Name><Properties><Content-Length>"
       "99999999999999999999</Content-Length></Properties></Blob></Blobs></EnumerationResults>",
       ESCROW_E_FORMAT, "Content-Length"},
      {"<EnumerationResults><Blobs><Blob><Name></Name><Properties><Content-Length>1"
       "</Content-Length></Properties></Blob></Blobs></EnumerationResults>",
       ESCROW_E_FORMAT, "empty"},
      {"<EnumerationResults><Blobs><Blob><Name Encoded=\"true\">%ZZ</Name></Blob></Blobs>"
       "</EnumerationResults>",
       ESCROW_E_FORMAT, "hex"},
      {"<EnumerationResults><Blobs><Blob><Name Encoded=\"true\">%FF</Name></Blob></Blobs>"
       "</EnumerationResults>",
       ESCROW_E_FORMAT, "UTF-8"},
      {"<EnumerationResults><Blobs><Blob><Name>a<b/></Name></Blob></Blobs></EnumerationResults>",
       ESCROW_E_FORMAT, "inside a text field"},
      {"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\">]><EnumerationResults/>",
       ESCROW_E_FORMAT, "DOCTYPE"},
      {"<EnumerationResults/><EnumerationResults/>", ESCROW_E_FORMAT, "XML"},
      {"", ESCROW_E_FORMAT, "XML"},
      {longname, ESCROW_E_LIMIT, "longer"},
  };
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(bad); i++) {
    seen s = {0};
    escrow__blob_list_parser *p;
    assert_int_equal(escrow__blob_list_parser_new(&p, collect, &s), 0);
    int rc = escrow__blob_list_parser_feed(p, bad[i].doc, strlen(bad[i].doc));
    char *marker = NULL;
    if (rc == 0)
      rc = escrow__blob_list_parser_finish(p, &marker);
    if (rc != bad[i].code || strstr(escrow_error_last(), bad[i].reason) == NULL)
      fail_msg("doc %zu: got %d '%s', want %d with '%s'", i, rc, escrow_error_last(),
               bad[i].code, bad[i].reason);
    assert_null(marker);
    /* the parser stays dead */
    assert_int_equal(escrow__blob_list_parser_feed(p, "<a/>", 4), rc);
    escrow__blob_list_parser_free(p);
  }
}

static void stops_when_the_callback_says_so(void **state) {
  (void)state;
  seen s = {.stop_after = 1};
  escrow__blob_list_parser *p;
  assert_int_equal(escrow__blob_list_parser_new(&p, collect, &s), 0);
  assert_int_equal(escrow__blob_list_parser_feed(p, PAGE, strlen(PAGE)), 7);
  assert_int_equal(s.n, 1);
  char *m;
  assert_int_equal(escrow__blob_list_parser_finish(p, &m), 7);
  escrow__blob_list_parser_free(p);
}

typedef struct parse_ctx {
  escrow__blob_list_parser *p;
  char *marker;
  seen s;
} parse_ctx;

static int op_parse(void *v) {
  parse_ctx *c = v;
  memset(&c->s, 0, sizeof c->s);
  int rc = escrow__blob_list_parser_new(&c->p, collect, &c->s);
  if (rc == 0)
    rc = escrow__blob_list_parser_feed(c->p, PAGE, strlen(PAGE));
  if (rc == 0)
    rc = escrow__blob_list_parser_finish(c->p, &c->marker);
  return rc;
}

static void cleanup_parse(void *v) {
  parse_ctx *c = v;
  escrow__blob_list_parser_free(c->p);
  escrow__free(c->marker);
  c->p = NULL;
  c->marker = NULL;
}

static void list_reader_survives_every_allocation_failure(void **state) {
  (void)state;
  parse_ctx c = {0};
  assert_true(tu_alloc_failures(op_parse, cleanup_parse, &c, 0) >= 3);
}

/* ---- opening --------------------------------------------------------------------------------- */

#define SAS_Q "sv=2021-12-02&sr=c&sp=rl&se=2099-01-01&spr=https,http&sig=x"

static void opens_only_container_urls_it_may_talk_to(void **state) {
  (void)state;
  escrow_blob_client *c = (escrow_blob_client *)1;
  static const struct {
    const char *url;
    unsigned flags;
    int code;
  } cases[] = {
      {"http://acct1.example.com/ds?" SAS_Q, ESCROW_BLOB_ALLOW_LOOPBACK_HTTP, ESCROW_E_INVALID},
      {"http://10.1.2.3:10000/acct/ds?" SAS_Q, ESCROW_BLOB_ALLOW_LOOPBACK_HTTP, ESCROW_E_INVALID},
      {"http://127.0.0.1:10000/acct/ds?" SAS_Q, 0, ESCROW_E_INVALID},
      {"https://acct1.blob.core.windows.net/ds/x.csv?" SAS_Q, 0, ESCROW_E_FORMAT},
      {"https://acct1.blob.core.windows.net/?" SAS_Q, 0, ESCROW_E_FORMAT},
      {"https://acct1.blob.core.windows.net/ds?" SAS_Q "&sp=r", 0, ESCROW_E_FORMAT},
      {"ftp://acct1.blob.core.windows.net/ds?" SAS_Q, 0, ESCROW_E_FORMAT},
      {"file://relative/path", 0, ESCROW_E_FORMAT},
      {"file:///nonexistent/escrow-test-folder", 0, ESCROW_E_NOTFOUND},
      {"file:///etc/hostname?x", 0, ESCROW_E_FORMAT},
  };
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(cases); i++) {
    escrow_blob_options o = ESCROW_BLOB_OPTIONS_INIT;
    o.flags = cases[i].flags;
    int rc = escrow_blob_open(&c, cases[i].url, &o);
    if (rc != cases[i].code)
      fail_msg("'%s': %d (%s), want %d", cases[i].url, rc, escrow_error_last(), cases[i].code);
    assert_null(c);
    assert_null(strstr(escrow_error_last(), "sig=")); /* the token never shows */
  }
  escrow_blob_options o = ESCROW_BLOB_OPTIONS_INIT;
  o.flags = ESCROW_BLOB_ALLOW_LOOPBACK_HTTP;
  assert_int_equal(escrow_blob_open(&c, "http://127.0.0.1:10000/acct/ds?" SAS_Q, &o), 0);
  escrow_blob_close(c);
  assert_int_equal(escrow_blob_open(&c, "https://acct1.blob.core.windows.net/ds?" SAS_Q, NULL), 0);
  escrow_blob_close(c);
  o.parallel = 17;
  assert_int_equal(escrow_blob_open(&c, "https://acct1.blob.core.windows.net/ds?" SAS_Q, &o),
                   ESCROW_E_INVALID);
  o.parallel = 0;
  o.version = 9;
  assert_int_equal(escrow_blob_open(&c, "https://acct1.blob.core.windows.net/ds?" SAS_Q, &o),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow_blob_open(&c, NULL, NULL), ESCROW_E_INVALID);
  escrow_blob_close(NULL);
}

/* ---- file:// datasets ------------------------------------------------------------------------ */

static char *file_url(const char *dir) {
  escrow__sb b = {0};
  escrow__sb_adds(&b, "file://");
  escrow__sb_add_pct(&b, dir, true);
  assert_false(b.oom);
  return b.s;
}

static void put(const char *dir, const char *rel, const void *data, size_t len) {
  char *p = escrow__path_join(dir, rel);
  char *slash = strrchr(p, '/');
  *slash = '\0';
  assert_int_equal(escrow__mkdirs(p, 0755), 0);
  *slash = '/';
  tu_write(p, data, len);
  escrow__free(p);
}

static void lists_a_folder_like_a_container(void **state) {
  (void)state;
  char *dir = tu_tmpdir("blob_list");
  put(dir, "b.csv", "bb", 2);
  put(dir, "a/z.csv", "z", 1);
  put(dir, "a/b c.csv", "", 0);
  put(dir, "a.csv.tmp-0123456789ab", "tmp", 3); /* an unfinished write is not a blob */
  char *link = escrow__path_join(dir, "link.csv");
  assert_int_equal(symlink("/etc/hostname", link), 0);
  char *url = file_url(dir);
  escrow_blob_client *c;
  assert_int_equal(escrow_blob_open(&c, url, NULL), 0);
  seen s = {0};
  assert_int_equal(escrow_blob_list(c, NULL, collect, &s), 0);
  assert_int_equal(s.n, 3);
  assert_string_equal(s.names[0], "a/b c.csv");
  assert_string_equal(s.names[1], "a/z.csv");
  assert_string_equal(s.names[2], "b.csv");
  assert_int_equal(s.sizes[2], 2);
  memset(&s, 0, sizeof s);
  assert_int_equal(escrow_blob_list(c, "a/", collect, &s), 0);
  assert_int_equal(s.n, 2);
  memset(&s, 0, sizeof s);
  s.stop_after = 1;
  assert_int_equal(escrow_blob_list(c, "", collect, &s), 7);
  uint64_t size;
  char md5[25];
  assert_int_equal(escrow_blob_stat(c, "b.csv", &size, md5), 0);
  assert_int_equal(size, 2);
  assert_int_equal(escrow_blob_stat(c, "nope.csv", &size, md5), ESCROW_E_NOTFOUND);
  assert_int_equal(escrow_blob_stat(c, "../x", &size, md5), ESCROW_E_INVALID);
  escrow_blob_close(c);
  escrow__free(url);
  escrow__free(link);
  free(dir);
}

typedef struct membuf {
  uint8_t *d;
  size_t n, cap;
  int fail_at; /* fail after this many bytes (0: never) */
} membuf;

static int to_mem(void *p, const uint8_t *d, size_t n) {
  membuf *m = p;
  if (m->fail_at && m->n + n > (size_t)m->fail_at)
    return ESCROW_E_IO;
  if (m->n + n > m->cap) {
    m->cap = (m->n + n) * 2;
    m->d = realloc(m->d, m->cap);
  }
  memcpy(m->d + m->n, d, n);
  m->n += n;
  return 0;
}

static void downloads_ranges_from_a_folder(void **state) {
  (void)state;
  char *dir = tu_tmpdir("blob_get");
  size_t n = 3 * 1024 * 1024 + 17;
  uint8_t *data = malloc(n);
  tu_fill(data, n, 42);
  put(dir, "big.bin", data, n);
  char *url = file_url(dir);
  escrow_blob_client *c;
  assert_int_equal(escrow_blob_open(&c, url, NULL), 0);
  membuf m = {0};
  assert_int_equal(escrow_blob_get(c, "big.bin", 0, ESCROW_BLOB_TO_END, to_mem, &m, NULL, NULL),
                   0);
  assert_int_equal(m.n, n);
  assert_memory_equal(m.d, data, n);
  m.n = 0;
  assert_int_equal(escrow_blob_get(c, "big.bin", 1000, 5000, to_mem, &m, NULL, NULL), 0);
  assert_int_equal(m.n, 5000);
  assert_memory_equal(m.d, data + 1000, 5000);
  m.n = 0;
  assert_int_equal(escrow_blob_get(c, "big.bin", n - 3, 100, to_mem, &m, NULL, NULL), 0);
  assert_int_equal(m.n, 3);
  assert_int_equal(escrow_blob_get(c, "big.bin", n + 1, 1, to_mem, &m, NULL, NULL),
                   ESCROW_E_INVALID);
  assert_int_equal(escrow_blob_get(c, "missing.bin", 0, 1, to_mem, &m, NULL, NULL),
                   ESCROW_E_NOTFOUND);
  m.fail_at = 10;
  m.n = 0;
  assert_int_equal(escrow_blob_get(c, "big.bin", 0, ESCROW_BLOB_TO_END, to_mem, &m, NULL, NULL),
                   ESCROW_E_IO);
  /* to a file, atomically */
  char *out = escrow__path_join(dir, "copy.bin");
  assert_int_equal(escrow_blob_get_file(c, "big.bin", out, NULL, NULL), 0);
  size_t got;
  uint8_t *back = tu_read(out, &got);
  assert_int_equal(got, n);
  assert_memory_equal(back, data, n);
  free(back);
  char *out2 = escrow__path_join(dir, "none.bin");
  assert_int_equal(escrow_blob_get_file(c, "missing.bin", out2, NULL, NULL), ESCROW_E_NOTFOUND);
  assert_false(tu_exists(out2));
  escrow_blob_close(c);
  free(m.d);
  free(data);
  escrow__free(out);
  escrow__free(out2);
  escrow__free(url);
  free(dir);
}

static int count_files(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

static void uploads_into_a_folder_and_skips_what_is_there(void **state) {
  (void)state;
  char *src = tu_tmpdir("blob_put_src");
  char *dst = tu_tmpdir("blob_put_dst");
  uint8_t data[5000];
  tu_fill(data, sizeof data, 7);
  put(src, "f.bin", data, sizeof data);
  char *in = escrow__path_join(src, "f.bin");
  char *url = file_url(dst);
  escrow_blob_client *c;
  assert_int_equal(escrow_blob_open(&c, url, NULL), 0);
  int skipped = -1;
  assert_int_equal(escrow_blob_put_file(c, "sub/dir/f.bin", in, ESCROW_BLOB_PUT_SKIP_SAME,
                                        &skipped, NULL, NULL),
                   0);
  assert_int_equal(skipped, 0);
  char *stored = escrow__path_join(dst, "sub/dir/f.bin");
  size_t n;
  uint8_t *back = tu_read(stored, &n);
  assert_int_equal(n, sizeof data);
  assert_memory_equal(back, data, n);
  free(back);
  /* same size and hash: skipped */
  assert_int_equal(escrow_blob_put_file(c, "sub/dir/f.bin", in, ESCROW_BLOB_PUT_SKIP_SAME,
                                        &skipped, NULL, NULL),
                   0);
  assert_int_equal(skipped, 1);
  /* same size, other bytes: uploaded again */
  data[100] ^= 1;
  tu_write(in, data, sizeof data);
  assert_int_equal(escrow_blob_put_file(c, "sub/dir/f.bin", in, ESCROW_BLOB_PUT_SKIP_SAME,
                                        &skipped, NULL, NULL),
                   0);
  assert_int_equal(skipped, 0);
  back = tu_read(stored, &n);
  assert_memory_equal(back, data, n);
  free(back);
  /* names that would leave the folder */
  static const char *const bad[] = {"../x", "/abs", "a//b", "./a", "a/../../b", ""};
  for (size_t i = 0; i < ESCROW__ARRAY_LEN(bad); i++)
    assert_int_equal(escrow_blob_put_file(c, bad[i], in, 0, NULL, NULL, NULL), ESCROW_E_INVALID);
  assert_int_equal(escrow_blob_put_file(c, "x.bin", "/nonexistent/file", 0, NULL, NULL, NULL),
                   ESCROW_E_NOTFOUND);
  assert_int_equal(count_files(dst), 1); /* only sub/ */
  escrow_blob_stats st;
  escrow_blob_get_stats(c, &st);
  assert_int_equal(st.bytes_up, 2 * sizeof data);
  escrow_blob_close(c);
  escrow__free(stored);
  escrow__free(in);
  escrow__free(url);
  free(src);
  free(dst);
}

/* ---- decrypting downloads ------------------------------------------------------------------- */

static void sha256_hex(char out[65], const uint8_t *d, size_t n) {
  uint8_t md[32];
  unsigned l;
  EVP_Digest(d, n, md, &l, EVP_sha256(), NULL);
  escrow__hex(out, md, 32);
}

static void decrypts_v1_and_v0_blobs_while_downloading(void **state) {
  (void)state;
  char *dir = tu_tmpdir("blob_dec");
  escrow_cek *cek = tu_cek();
  /* v1: made here, several chunks */
  size_t n = 300000;
  uint8_t *plain = malloc(n);
  tu_fill(plain, n, 9);
  char *pin = escrow__path_join(dir, "plain.bin");
  tu_write(pin, plain, n);
  char *enc = escrow__path_join(dir, "data.bin.bkenc");
  escrow_encrypt_options eo = ESCROW_ENCRYPT_OPTIONS_INIT;
  eo.log2cs = 14;
  eo.context.path = "data.bin";
  assert_int_equal(escrow_encrypt_file(cek, &eo, ESCROW_FORMAT_V1, pin, enc, NULL, NULL, NULL),
                   0);
  /* v0: the shared vector */
  size_t v0len;
  uint8_t *v0 = tu_read(tu_vector("v0/size-1000.bkenc"), &v0len);
  put(dir, "v0.bkenc", v0, v0len);
  free(v0);
  v0 = tu_read(tu_vector("v0/bad-tag.bkenc"), &v0len);
  put(dir, "v0-bad.bkenc", v0, v0len);
  free(v0);
  put(dir, "short.bkenc", "abc", 3);
  put(dir, "plain.txt", "just some plain text here", 25);

  char *url = file_url(dir);
  escrow_blob_client *c;
  assert_int_equal(escrow_blob_open(&c, url, NULL), 0);
  char *out = escrow__path_join(dir, "out.bin");
  escrow_decrypt_options dopts = ESCROW_DECRYPT_OPTIONS_INIT;
  dopts.expect_path = "data.bin";
  assert_int_equal(escrow_blob_get_decrypt_file(c, "data.bin.bkenc", cek, &dopts, out, NULL,
                                                NULL),
                   0);
  size_t got;
  uint8_t *back = tu_read(out, &got);
  assert_int_equal(got, n);
  assert_memory_equal(back, plain, n);
  free(back);
  unlink(out);
  /* the path pin is checked */
  dopts.expect_path = "other.bin";
  assert_int_equal(escrow_blob_get_decrypt_file(c, "data.bin.bkenc", cek, &dopts, out, NULL,
                                                NULL),
                   ESCROW_E_MISMATCH);
  assert_false(tu_exists(out));
  /* v0 */
  assert_int_equal(escrow_blob_get_decrypt_file(c, "v0.bkenc", cek, NULL, out, NULL, NULL), 0);
  back = tu_read(out, &got);
  char hex[65];
  sha256_hex(hex, back, got);
  assert_int_equal(got, 1000);
  assert_string_equal(hex, "07a31b157c3e32d37abd8c113a5e5d3b1265d23a988d78068e6b3c9479066103"); /* tests/vectors/v0/vectors.json */
  free(back);
  unlink(out);
  /* failures leave nothing: no output, no staged ciphertext */
  int files_before = count_files(dir);
  assert_int_equal(escrow_blob_get_decrypt_file(c, "v0-bad.bkenc", cek, NULL, out, NULL, NULL),
                   ESCROW_E_AUTH);
  assert_int_equal(escrow_blob_get_decrypt_file(c, "short.bkenc", cek, NULL, out, NULL, NULL),
                   ESCROW_E_FORMAT);
  assert_int_equal(escrow_blob_get_decrypt_file(c, "plain.txt", cek, NULL, out, NULL, NULL),
                   ESCROW_E_FORMAT);
  assert_int_equal(escrow_blob_get_decrypt_file(c, "missing", cek, NULL, out, NULL, NULL),
                   ESCROW_E_NOTFOUND);
  assert_false(tu_exists(out));
  assert_int_equal(count_files(dir), files_before);
  /* a truncated v1 blob */
  uint8_t *encd = tu_read(enc, &got);
  put(dir, "cut.bkenc", encd, got - 100);
  put(dir, "flip.bkenc", encd, got);
  free(encd);
  char *flip = escrow__path_join(dir, "flip.bkenc");
  encd = tu_read(flip, &got);
  encd[got / 2] ^= 0x40;
  tu_write(flip, encd, got);
  free(encd);
  /* cut inside a chunk: the held chunk is not a valid final chunk (AUTH) */
  int rc = escrow_blob_get_decrypt_file(c, "cut.bkenc", cek, NULL, out, NULL, NULL);
  assert_true(rc == ESCROW_E_AUTH || rc == ESCROW_E_TRUNCATED);
  assert_int_equal(escrow_blob_get_decrypt_file(c, "flip.bkenc", cek, NULL, out, NULL, NULL),
                   ESCROW_E_AUTH);
  assert_false(tu_exists(out));
  /* to a receiver: verified plaintext only, v1 only */
  membuf m = {0};
  assert_int_equal(escrow_blob_get_decrypt(c, "data.bin.bkenc", cek, NULL, to_mem, &m, NULL,
                                           NULL),
                   0);
  assert_int_equal(m.n, n);
  assert_memory_equal(m.d, plain, n);
  m.n = 0;
  assert_int_equal(escrow_blob_get_decrypt(c, "flip.bkenc", cek, NULL, to_mem, &m, NULL, NULL),
                   ESCROW_E_AUTH);
  assert_true(m.n < n); /* it stopped at the altered chunk */
  assert_memory_equal(m.d, plain, m.n); /* and what came before it was the real plaintext */
  m.n = 0;
  assert_int_equal(escrow_blob_get_decrypt(c, "v0.bkenc", cek, NULL, to_mem, &m, NULL, NULL),
                   ESCROW_E_UNSUPPORTED);
  assert_int_equal(m.n, 0);
  m.fail_at = 1000;
  assert_int_equal(escrow_blob_get_decrypt(c, "data.bin.bkenc", cek, NULL, to_mem, &m, NULL,
                                           NULL),
                   ESCROW_E_IO);
  free(m.d);
  escrow_blob_close(c);
  escrow_cek_free(cek);
  free(plain);
  escrow__free(flip);
  escrow__free(pin);
  escrow__free(enc);
  escrow__free(out);
  escrow__free(url);
  free(dir);
}

/* ---- allocation failures over the file:// operations ---------------------------------------- */

typedef struct file_ctx {
  const char *url, *src, *out, *enc_name;
  escrow_cek *cek;
  escrow_blob_client *c;
} file_ctx;

static int count_cb(void *p, const escrow_blob_item *it) {
  (void)it;
  (*(int *)p)++;
  return 0;
}

static int op_file_ops(void *v) {
  file_ctx *x = v;
  int rc = escrow_blob_open(&x->c, x->url, NULL);
  int n = 0;
  if (rc == 0)
    rc = escrow_blob_list(x->c, NULL, count_cb, &n);
  if (rc == 0)
    rc = escrow_blob_put_file(x->c, "copy/f.bin", x->src, ESCROW_BLOB_PUT_SKIP_SAME, NULL, NULL,
                              NULL);
  if (rc == 0)
    rc = escrow_blob_get_file(x->c, "copy/f.bin", x->out, NULL, NULL);
  if (rc == 0) {
    unlink(x->out);
    rc = escrow_blob_get_decrypt_file(x->c, x->enc_name, x->cek, NULL, x->out, NULL, NULL);
  }
  return rc;
}

static void cleanup_file_ops(void *v) {
  file_ctx *x = v;
  escrow_blob_close(x->c);
  x->c = NULL;
  unlink(x->out);
}

static void file_operations_survive_every_allocation_failure(void **state) {
  (void)state;
  char *dir = tu_tmpdir("blob_alloc");
  uint8_t data[3000];
  tu_fill(data, sizeof data, 5);
  put(dir, "src/f.bin", data, sizeof data);
  char *src = escrow__path_join(dir, "src/f.bin");
  char *enc = escrow__path_join(dir, "f.bin.bkenc");
  escrow_cek *cek = tu_cek();
  assert_int_equal(escrow_encrypt_file(cek, NULL, ESCROW_FORMAT_V1, src, enc, NULL, NULL, NULL), 0);
  char *out = escrow__path_join(dir, "out.bin");
  char *url = file_url(dir);
  file_ctx x = {url, src, out, "f.bin.bkenc", cek, NULL};
  assert_true(tu_alloc_failures(op_file_ops, cleanup_file_ops, &x, 0) > 10);
  /* and nothing half-written is left behind */
  assert_false(tu_exists(out));
  escrow_cek_free(cek);
  escrow__free(src);
  escrow__free(enc);
  escrow__free(out);
  escrow__free(url);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(reads_a_list_blobs_page_fed_in_any_pieces),
      cmocka_unit_test(reports_the_end_of_a_listing_without_a_marker),
      cmocka_unit_test(refuses_what_is_not_a_list_blobs_answer),
      cmocka_unit_test(stops_when_the_callback_says_so),
      cmocka_unit_test(list_reader_survives_every_allocation_failure),
      cmocka_unit_test(opens_only_container_urls_it_may_talk_to),
      cmocka_unit_test(lists_a_folder_like_a_container),
      cmocka_unit_test(downloads_ranges_from_a_folder),
      cmocka_unit_test(uploads_into_a_folder_and_skips_what_is_there),
      cmocka_unit_test(decrypts_v1_and_v0_blobs_while_downloading),
      cmocka_unit_test(file_operations_survive_every_allocation_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
