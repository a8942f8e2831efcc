/* The per-run CA of the Enclave API: a fresh P-256 CA signs one certificate for localhost and
 * 127.0.0.1, then its private key is freed (nothing else can ever be signed by it). The CA
 * certificate is what the algorithm trusts (SSL_CERT_FILE and friends). */
#define _GNU_SOURCE
#include "enclave.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static char *bio_take(BIO *b) {
  char *p = NULL;
  long n = BIO_get_mem_data(b, &p);
  char *out = n > 0 ? malloc((size_t)n + 1) : NULL;
  if (out) {
    memcpy(out, p, (size_t)n);
    out[n] = 0;
  }
  return out;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!ex) return -1;
  int ok = X509_add_ext(cert, ex, -1);
  X509_EXTENSION_free(ex);
  return ok ? 0 : -1;
}

static X509 *new_cert(EVP_PKEY *key, const char *cn, long days) {
  X509 *c = X509_new();
  unsigned char serial[16];
  BIGNUM *bn = NULL;
  if (!c || RAND_bytes(serial, sizeof(serial)) != 1) goto fail;
  serial[0] &= 0x7f;
  if (!(bn = BN_bin2bn(serial, sizeof(serial), NULL)) || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)))
    goto fail;
  BN_free(bn);
  bn = NULL;
  X509_NAME *name = X509_get_subject_name(c);
  if (!X509_set_version(c, 2) || !X509_gmtime_adj(X509_getm_notBefore(c), -300) ||
      !X509_gmtime_adj(X509_getm_notAfter(c), days * 86400L) || !X509_set_pubkey(c, key) ||
      !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"escrow-enclave (simulated TEE)", -1, -1, 0) ||
      !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0))
    goto fail;
  return c;
fail:
  BN_free(bn);
  X509_free(c);
  return NULL;
}

int enc_tls_make(char **ca_pem, char **cert_pem, char **key_pem) {
  *ca_pem = *cert_pem = *key_pem = NULL;
  EVP_PKEY *cakey = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
  X509 *ca = NULL, *leaf = NULL;
  BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem()), *b3 = BIO_new(BIO_s_mem());
  int rc = -1;
  if (!cakey || !key || !b1 || !b2 || !b3) goto out;
  if (!(ca = new_cert(cakey, "escrow-enclave run CA", 2)) ||
      !X509_set_issuer_name(ca, X509_get_subject_name(ca)) ||
      add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign") ||
      add_ext(ca, ca, NID_subject_key_identifier, "hash") ||
      add_ext(ca, ca, NID_authority_key_identifier, "keyid:always") ||
      !X509_sign(ca, cakey, EVP_sha256()))
    goto out;
  if (!(leaf = new_cert(key, "localhost", 2)) ||
      !X509_set_issuer_name(leaf, X509_get_subject_name(ca)) ||
      add_ext(leaf, ca, NID_basic_constraints, "critical,CA:FALSE") ||
      add_ext(leaf, ca, NID_key_usage, "critical,digitalSignature") ||
      add_ext(leaf, ca, NID_ext_key_usage, "serverAuth") ||
      add_ext(leaf, ca, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") ||
      add_ext(leaf, ca, NID_subject_key_identifier, "hash") ||
      add_ext(leaf, ca, NID_authority_key_identifier, "keyid:always") ||
      !X509_sign(leaf, cakey, EVP_sha256()))
    goto out;
  if (!PEM_write_bio_X509(b1, ca) || !PEM_write_bio_X509(b2, leaf) ||
      !PEM_write_bio_PrivateKey(b3, key, NULL, NULL, 0, NULL, NULL))
    goto out;
  *ca_pem = bio_take(b1);
  *cert_pem = bio_take(b2);
  *key_pem = bio_take(b3);
  if (*ca_pem && *cert_pem && *key_pem) rc = 0;
out:
  if (rc != 0) {
    free(*ca_pem);
    free(*cert_pem);
    if (*key_pem) {
      OPENSSL_cleanse(*key_pem, strlen(*key_pem));
      free(*key_pem);
    }
    *ca_pem = *cert_pem = *key_pem = NULL;
  }
  X509_free(ca);
  X509_free(leaf);
  EVP_PKEY_free(cakey); /* the CA key is gone: it signed one certificate */
  EVP_PKEY_free(key);
  BIO_free(b1);
  BIO_free(b2);
  if (b3) {
    char *p = NULL;
    long n = BIO_get_mem_data(b3, &p);
    if (n > 0) OPENSSL_cleanse(p, (size_t)n);
    BIO_free(b3);
  }
  return rc;
}
