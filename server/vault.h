/*
 * escrowd: the key vault. KEK private halves are sealed (AES-256-GCM, a fresh 96-bit nonce,
 * the project and organisation ids as associated data so a sealed key cannot be moved to
 * another party) under a 32-byte master key kept OUTSIDE the database, in the data folder's
 * "master.key" (mode 0600, created on first start). A copy of the database alone therefore
 * reveals no private key; whoever reads master.key and the database together can unseal them.
 * The vault is a table of operations so a PKCS#11 HSM (wrap/unwrap with a non-extractable key)
 * can replace the file-backed implementation.
 */
#ifndef ESCROWD_VAULT_H
#define ESCROWD_VAULT_H

#include <stddef.h>

typedef struct srv_vault srv_vault;
struct srv_vault {
  void *impl;
  /* Seal secret (len bytes) bound to context; *out is malloc'd. 0 or -1. */
  int (*seal)(srv_vault *v, const char *context, const unsigned char *secret, size_t len,
              unsigned char **out, size_t *out_len);
  /* Unseal into secure memory (*out freed with srv_vault_secret_free). 0 or -1 (altered,
   * wrong context or wrong master key: one answer for all). */
  int (*unseal)(srv_vault *v, const char *context, const unsigned char *sealed, size_t len,
                unsigned char **out, size_t *out_len);
  void (*close)(srv_vault *v);
};

/* Open the file-backed vault: master key at path, created (O_EXCL, 0600) when missing.
 * NULL on error (message in err, never key material). */
srv_vault *srv_vault_file_open(const char *path, char *err, size_t errsz);

void srv_vault_secret_free(unsigned char *p, size_t len);

#endif
