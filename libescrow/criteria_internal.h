/*
 * Internals of the validation-criteria engine (Cerberus 1.3 semantics). Not installed.
 *
 * Layout:
 *   criteria_json.c      arena, JSON tree with Python json.loads semantics, JSON writer
 *   criteria_py.c        Python str()/repr() formatting, ==, < on JSON values
 *   criteria_validate.c  the validator (a port of cerberus.Validator) and the error tree
 *   criteria_schema.c    schema expansion, the schema-of-schemas check, compile, public API
 *   criteria_audit.c     `escrow criteria audit`: the free-form channels of a schema
 */
#ifndef ESCROW_CRITERIA_INTERNAL_H
#define ESCROW_CRITERIA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "escrow/criteria.h"
#include "internal.h"

/* ---- arena ----------------------------------------------------------------------------- */

typedef struct cr_arena_block cr_arena_block;
typedef struct cr_arena {
  cr_arena_block *head;
  size_t used, cap; /* of head */
  size_t total;     /* bytes obtained from the allocator */
} cr_arena;

void cr_arena_init(cr_arena *a);
void cr_arena_free(cr_arena *a);
/* 8-byte aligned, or NULL (NOMEM recorded). */
void *cr_alloc(cr_arena *a, size_t n);
char *cr_strndup(cr_arena *a, const char *s, size_t n);

/* ---- JSON values ------------------------------------------------------------------------ */

enum { CV_NULL, CV_BOOL, CV_INT, CV_FLOAT, CV_STR, CV_LIST, CV_DICT };
#define CVF_BIGINT 1 /* CV_INT whose decimal digits are in u.s (n bytes) */
#define CVF_TUPLE 2  /* CV_LIST that Python holds as a tuple (repr with parentheses) */

typedef struct cv cv;
typedef struct cv_member cv_member;
struct cv {
  uint8_t kind;
  uint8_t flags;
  uint32_t n; /* string bytes, list/dict count, bigint lexeme bytes */
  union {
    int64_t i; /* CV_INT (not big), CV_BOOL 0/1 */
    double d;  /* CV_FLOAT */
    const char *s;
    cv *items;
    cv_member *members;
  } u;
};
struct cv_member {
  const char *key;
  uint32_t klen;
  cv val;
};

typedef struct cr_parse_limits {
  size_t max_depth;
  size_t max_bytes;
  size_t max_number_len;
} cr_parse_limits;

/* Parse JSON text into a tree allocated from arena. Python json.loads semantics: duplicate keys
 * keep the first position and the last value; integers by lexeme (no '.', 'e', 'E'). Returns
 * 0, ESCROW_E_FORMAT (bad JSON, message says where), ESCROW_E_LIMIT or ESCROW_E_NOMEM. what
 * names the input in messages ("document", "schema"). */
int cr_parse(cr_arena *a, const char *text, size_t len, const cr_parse_limits *lim,
             const char *what, cv **out);

/* The same, reading the JSON from a file descriptor in 64 KiB chunks (never held whole). */
int cr_parse_fd(cr_arena *a, int fd, const cr_parse_limits *lim, const char *what, cv **out);

const cv *cr_dict_get(const cv *d, const char *key, size_t klen);
static inline const cv *cr_dict_gets(const cv *d, const char *key) {
  return cr_dict_get(d, key, __builtin_strlen(key));
}
/* Number of code points of a UTF-8 string. */
size_t cr_utf8_len(const char *s, size_t n);

/* Growable output buffer. On allocation failure sets failed; later appends are no-ops. */
typedef struct cr_buf {
  char *p;
  size_t len, cap;
  bool failed;
} cr_buf;
void cr_buf_put(cr_buf *b, const char *s, size_t n);
void cr_buf_puts(cr_buf *b, const char *s);
void cr_buf_putc(cr_buf *b, char c);
void cr_buf_printf(cr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal (quotes included). */
void cr_buf_json_str(cr_buf *b, const char *s, size_t n);
/* A JSON rendering of a value. */
void cr_buf_json_value(cr_buf *b, const cv *v);
/* Hand the NUL-terminated text over (escrow_free), or NULL with NOMEM recorded. */
char *cr_buf_finish(cr_buf *b);

/* ---- Python semantics -------------------------------------------------------------------- */

/* str(v) as Python prints it (strings raw); repr(v) (strings quoted). */
void cr_py_str(cr_buf *b, const cv *v);
void cr_py_repr(cr_buf *b, const cv *v);
void cr_py_repr_str(cr_buf *b, const char *s, size_t n);
void cr_py_float_repr(cr_buf *b, double d);
/* Python ==. */
bool cr_py_eq(const cv *a, const cv *b);
/* Python ordering: -1, 0, 1; CR_CMP_FALSE when every comparison is False (NaN);
 * CR_CMP_TYPEERROR when Python raises TypeError. */
#define CR_CMP_FALSE 2
#define CR_CMP_TYPEERROR 3
int cr_py_cmp(const cv *a, const cv *b);
/* Python hashable: not a list or dict. */
static inline bool cr_hashable(const cv *v) { return v->kind != CV_LIST && v->kind != CV_DICT; }

/* ---- compiled criteria ------------------------------------------------------------------- */

typedef struct cr_regex {
  const cv *node; /* the pattern string node in the schema tree */
  pcre2_code *code;
} cr_regex;

struct escrow_criteria {
  cr_arena arena;   /* the schema tree (expanded) */
  cv *schema;       /* the fields schema (a dict) */
  cr_regex *regex;  /* sorted by node address */
  size_t nregex;
  escrow_criteria_options opts;
  bool has_readonly; /* a "readonly" key anywhere: the normalization pass has work to do */
};

struct escrow_criteria_doc {
  cr_arena arena;
  cv *root;
};

/* ---- validator ----------------------------------------------------------------------------- */

typedef struct cr_vopts {
  const escrow_criteria *crit; /* regex table and limits (NULL in schema mode) */
  bool schema_mode;            /* validating a schema: the SchemaValidator domain */
  bool allow_unknown;
  bool require_all;
  bool normalize; /* the top-level readonly pass */
  pcre2_match_context *mctx;
  bool redact_values;
  size_t max_errors; /* 0: no limit */
  uint64_t max_work; /* 0: no limit */
} cr_vopts;

/* Validate document (a dict) against fields schema. On success *valid is set and, when
 * errors_json is not NULL, *errors_json gets the BasicErrorHandler tree as JSON ("{}" when
 * valid). schema_root_allow_unknown: in schema mode, the rules used for unknown fields.
 * Returns 0, ESCROW_E_LIMIT (regex or recursion limits), ESCROW_E_NOMEM. */
int cr_validate(const cr_vopts *o, const cv *schema, const cv *allow_unknown_rules,
                const cv *document, bool *valid, char **errors_json);

/* The schema-of-schemas (cerberus Validator.rules) as a parsed tree, built once. */
const cv *cr_meta_rules(void);
const cv *cr_meta_validation_rules(void);

/* Regex lookup for a pattern node (NULL when not precompiled). */
const pcre2_code *cr_regex_find(const escrow_criteria *c, const cv *node);

/* Audit of a compiled schema (criteria_audit.c). */
int cr_audit(const escrow_criteria *c, char **out_json);

#endif
