/*
 * secrets.yaml, the plaintext list of encrypted files in an algorithm package
 * (beekeeper-clients.md §1): a top-level mapping whose "secretFiles" is a list of
 * [encrypted_relpath, original_relpath] pairs. Internal to the package module.
 *
 * Reading uses libyaml's event API, so plain scalars stay strings ("007", "true", "1.5" are
 * names, not numbers). When the YAML does not parse, or its list is not made of pairs of plain
 * strings (anchors, tags and aliases are treated as mangled names), and the file has exactly
 * the shape escrowai-encrypt 0.0.4 writes (a "secretFiles:" line, then one " - [enc, orig]"
 * line per file, unquoted), each line is read literally instead: the text between "[" and the
 * last "]" is split at the ", " that makes enc == orig + ".bkenc" (if exactly one does), else
 * at the first ", ". A leading "./" of either path is removed; both must then be clean
 * relative paths ('/'-separated, no "..", no empty component, no backslash); no encrypted or
 * original path may appear twice.
 *
 * Writing produces double-quoted, escaped YAML, so any clean name round-trips.
 */
#ifndef ESCROW_SECRETS_INTERNAL_H
#define ESCROW_SECRETS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define ESCROW__SECRETS_MAX_BYTES (1u << 20)
#define ESCROW__SECRETS_MAX_PAIRS 100000u

typedef struct escrow__secret_pair {
  char *encrypted; /* path of the .bkenc entry in the package */
  char *original;  /* path it decrypts to */
} escrow__secret_pair;

typedef struct escrow__secrets {
  escrow__secret_pair *pairs;
  size_t n;
  int used_fallback; /* 1 if the line-based reading of unquoted lists was used */
} escrow__secrets;

/* Parse secrets.yaml bytes into *out (cleared first; free with escrow__secrets_clear even on
 * error). Errors: ESCROW_E_FORMAT (with the reason and line), ESCROW_E_LIMIT, ESCROW_E_NOMEM. */
int escrow__secrets_parse(escrow__secrets *out, const uint8_t *data, size_t len);

/* Add a pair (copies the strings; no validation). */
int escrow__secrets_add(escrow__secrets *s, const char *encrypted, const char *original);

void escrow__secrets_clear(escrow__secrets *s);

/* Serialise as quoted YAML; *out (escrow__malloc, NUL-terminated) holds *len bytes. */
int escrow__secrets_write(const escrow__secrets *s, char **out, size_t *len);

#endif
