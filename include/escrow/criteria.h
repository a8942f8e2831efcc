/*
 * Validation criteria: the egress policy of a validation run (manual §14.6, DESIGN §5).
 *
 * A criteria document is a Cerberus 1.3 schema written in JSON. This module compiles it once
 * into an immutable handle and validates reports against it with Cerberus 1.3.2 semantics:
 * the same rules, the same acceptance and the same error tree (`validator.errors`), rendered
 * as JSON. docs/CRITERIA.md lists the few intentional differences.
 *
 * Threading: a compiled escrow_criteria and a parsed escrow_criteria_doc are immutable; any
 * number of threads may validate with them at the same time.
 *
 * Errors: a schema Cerberus would refuse gives ESCROW_E_FORMAT, and the SchemaError tree (the
 * same JSON Cerberus puts in SchemaError) is returned through schema_errors. A document that is
 * not valid JSON, or whose root is not an object, gives ESCROW_E_FORMAT. A document that breaks
 * the rules is NOT an error: the call returns 0 with *valid = 0 and the error tree. Hostile
 * input hits limits (ESCROW_E_LIMIT): nesting depth, size, number length, regex backtracking,
 * error count, work. JSON is read as Python's json reads it (integers of any size by lexeme,
 * duplicate keys keep the last value, NaN/Infinity/-Infinity accepted).
 *
 * Stack: validation recurses once per nested child validator (at most 256 deep, about 2 KB
 * each): give a validating thread at least 1 MB of stack.
 */
#ifndef ESCROW_CRITERIA_H
#define ESCROW_CRITERIA_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct escrow_criteria escrow_criteria;
typedef struct escrow_criteria_doc escrow_criteria_doc;

#define ESCROW_CRITERIA_OPTIONS_VERSION 1

/* Options for compiling criteria (and the limits used when validating with them). Start from
 * ESCROW_CRITERIA_OPTIONS_INIT; zero fields take the default. */
typedef struct escrow_criteria_options {
  unsigned int version;       /* ESCROW_CRITERIA_OPTIONS_VERSION */
  int allow_unknown;          /* Validator(allow_unknown=...): default 0, as the platform */
  int require_all;            /* Validator(require_all=...): default 0 */
  size_t max_depth;           /* JSON nesting depth of schemas and documents: default 64 */
  size_t max_document_bytes;  /* default 64 MiB */
  size_t max_schema_bytes;    /* default 1 MiB */
  size_t max_number_len;      /* characters of one JSON number: default 4300 (Python's limit) */
  uint32_t regex_match_limit; /* PCRE2 match limit per regex call: default 1000000 */
  uint32_t regex_depth_limit; /* PCRE2 depth limit: default 10000 */
  size_t max_errors;          /* errors in one validation before giving up: default 100000 */
  uint64_t max_work;          /* rule evaluations in one validation: default 50000000 (nested
                                 *of rules multiply work; this bounds hostile criteria) */
  int redact_values;          /* 1: the messages that quote the document's values
                                 ("unallowed value X", "unallowed values [...]") say
                                 "<redacted>" instead (DESIGN §7: what may leave the enclave);
                                 0 (default): exactly Cerberus's messages */
} escrow_criteria_options;

#define ESCROW_CRITERIA_OPTIONS_INIT                                                          \
  {ESCROW_CRITERIA_OPTIONS_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

/*
 * Compile criteria from JSON text (len bytes, need not be NUL-terminated). opts may be NULL.
 * On success *out is a handle to free with escrow_criteria_free. When the schema is refused
 * and schema_errors is not NULL, *schema_errors receives the SchemaError tree as JSON (free
 * with escrow_free), e.g. {"a":[{"type":["Unsupported types: flaot"]}]}, or, for the refusals
 * Cerberus does not express as a tree (a normalization rule, a bad regex), a JSON array with one
 * message; otherwise it is set to NULL. escrow_error_last() says why in words. Returns 0, ESCROW_E_INVALID (NULL arguments, bad options version), ESCROW_E_FORMAT
 * (not JSON, not a schema Cerberus accepts, a normalization rule such as default/coerce/rename,
 * a regex PCRE2 cannot compile), ESCROW_E_LIMIT (size, depth, number length) or
 * ESCROW_E_NOMEM.
 */
ESCROW_EXTERN int escrow_criteria_compile(escrow_criteria **out, const char *json, size_t len,
                                          const escrow_criteria_options *opts,
                                          char **schema_errors) ESCROW_WARN_UNUSED;

/* Free a handle. NULL is a no-op. */
ESCROW_EXTERN void escrow_criteria_free(escrow_criteria *c);

/*
 * Parse a document once to validate it several times (JSON text, len bytes), with the limits
 * of opts (may be NULL). Free with escrow_criteria_doc_free. Returns 0, ESCROW_E_INVALID,
 * ESCROW_E_FORMAT (not JSON), ESCROW_E_LIMIT or ESCROW_E_NOMEM.
 */
ESCROW_EXTERN int escrow_criteria_doc_parse(escrow_criteria_doc **out, const char *json,
                                            size_t len, const escrow_criteria_options *opts)
    ESCROW_WARN_UNUSED;

/*
 * Parse a document from a file, reading it in chunks so that a large report is never held
 * whole in memory (only its tree is). Returns as escrow_criteria_doc_parse, plus
 * ESCROW_E_NOTFOUND / ESCROW_E_IO for the file.
 */
ESCROW_EXTERN int escrow_criteria_doc_parse_file(escrow_criteria_doc **out, const char *path,
                                                 const escrow_criteria_options *opts)
    ESCROW_WARN_UNUSED;

/* Free a parsed document. NULL is a no-op. */
ESCROW_EXTERN void escrow_criteria_doc_free(escrow_criteria_doc *d);

/*
 * Validate a parsed document. *valid is set to 1 or 0. When errors_json is not NULL it
 * receives Cerberus's `validator.errors` as JSON ("{}" when valid); free with escrow_free.
 * Returns 0 (whatever the verdict), ESCROW_E_INVALID (NULL arguments), ESCROW_E_FORMAT (the
 * document's root is not an object: Cerberus's DocumentError, whose message is in
 * escrow_error_last()), ESCROW_E_LIMIT (a regex exceeded its match limit, more than
 * max_errors errors, more than max_work rule evaluations) or ESCROW_E_NOMEM.
 */
ESCROW_EXTERN int escrow_criteria_validate_doc(const escrow_criteria *c,
                                               const escrow_criteria_doc *d, int *valid,
                                               char **errors_json) ESCROW_WARN_UNUSED;

/* Parse (with c's limits) and validate JSON text in one call. Same results as above, plus the
 * parse errors of escrow_criteria_doc_parse. */
ESCROW_EXTERN int escrow_criteria_validate(const escrow_criteria *c, const char *json,
                                           size_t len, int *valid, char **errors_json)
    ESCROW_WARN_UNUSED;

/*
 * Validate a report's json_data as the Enclave API receives it (DESIGN §7): a JSON object, a
 * JSON string holding JSON, or base64 of JSON (standard or URL-safe alphabet, padding
 * optional). *answer receives {"status":"successful","message":{}} or
 * {"status":"failed","message":<errors>} (free with escrow_free); *valid says which. A body
 * that is none of the three, or whose root is not an object, gives ESCROW_E_FORMAT and no
 * answer. Other returns as escrow_criteria_validate.
 */
ESCROW_EXTERN int escrow_criteria_validate_report(const escrow_criteria *c, const char *json_data,
                                                  size_t len, int *valid, char **answer)
    ESCROW_WARN_UNUSED;

/*
 * The audit of criteria (`escrow criteria audit`): every channel through which a conforming
 * report can carry free-form information, with an upper bound in bits per report where one
 * exists. *out_json receives {"channels":[{"path","kind","bits":N|null,"free_form":bool,
 * "reason"}...],"bounded":bool,"total_bits":N|null,"unknown_fields":"refused"|...} (free with
 * escrow_free); bits null means no useful bound. docs/CRITERIA.md explains the method.
 * Returns 0 or ESCROW_E_INVALID / ESCROW_E_NOMEM.
 */
ESCROW_EXTERN int escrow_criteria_audit(const escrow_criteria *c, char **out_json)
    ESCROW_WARN_UNUSED;

/*
 * One line of the differential-test protocol (`escrow criteria validate --jsonl`): line is a
 * JSON object {"schema": S, "document": D, "options": {"allow_unknown", "require_all"}?}.
 * *result_json receives {"valid": bool, "errors": {...}}, or, when Cerberus would raise,
 * {"valid": null, "exception": "SchemaError"|"DocumentError"|"Error", "message": ...,
 * "schema_errors"?: ...}. Free with escrow_free. Returns 0, or ESCROW_E_INVALID /
 * ESCROW_E_FORMAT (the line itself is not such an object) / ESCROW_E_LIMIT / ESCROW_E_NOMEM.
 */
ESCROW_EXTERN int escrow_criteria_check_pair(const char *line, size_t len, char **result_json)
    ESCROW_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
