/*
 * escrow attest sim-issuer|sim-token|verify-token|policy-eval (docs/ATTESTATION.md): make a
 * development (SIMULATED) attestation issuer and tokens, verify a token against an issuer's
 * JWKS, and evaluate a Key Vault release policy against claims.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define ATTEST_MAX_FILE (256u * 1024u)

static int read_arg_file(const char *what, const char *path, uint8_t **out, size_t *len) {
  int rc = cli_read_small_file(path, ATTEST_MAX_FILE, out, len);
  if (rc == -EFBIG)
    return cli_error(CLI_EXIT_ERROR, "%s '%s' is larger than 256 KiB", what, path);
  if (rc != 0)
    return cli_error(CLI_EXIT_ERROR, "cannot read %s '%s': %s", what, path, strerror(-rc));
  return 0;
}

/* Strip trailing newlines and spaces (a token or JSON saved by an editor). */
static void trim(uint8_t *d, size_t *len) {
  while (*len > 0 && (d[*len - 1] == '\n' || d[*len - 1] == '\r' || d[*len - 1] == ' '))
    (*len)--;
}

static int now_arg(const cli_args *a, int64_t *now) {
  const char *v = cli_get(a, "now");
  *now = 0;
  if (v == NULL)
    return 0;
  char *end = NULL;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || n <= 0)
    return cli_error(CLI_EXIT_ERROR, "--now takes seconds since 1970 (e.g. 1767225600)");
  *now = (int64_t)n;
  return 0;
}

static int print_text(const char *s) {
  if (fputs(s, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
    return cli_error(CLI_EXIT_ERROR, "cannot write to standard output");
  return CLI_EXIT_OK;
}

/* ---- sim-issuer -------------------------------------------------------------------------- */

static const cli_opt issuer_opts[] = {
    {"out", 'o', CLI_VALUE, "FILE", "where to write the issuer's private key (PKCS#8 PEM, 0600)"},
    {"kid", 0, CLI_VALUE, "KID", "key id (default: the key's RFC 7638 thumbprint)"},
    {"bits", 0, CLI_VALUE, "N", "RSA size, 2048..8192 (default 3072)"},
    {0}};

static int run_issuer(const cli_args *a) {
  const char *out = cli_require(a, "out");
  if (out == NULL)
    return CLI_EXIT_ERROR;
  unsigned bits = 0;
  if (cli_get(a, "bits") != NULL)
    bits = (unsigned)strtoul(cli_get(a, "bits"), NULL, 10);
  escrow_attest_signer *s = NULL;
  int rc = escrow_attest_signer_generate(&s, bits, cli_get(a, "kid"));
  if (rc != 0)
    return cli_fail(rc, "cannot make the issuer key");
  uint8_t *pem = NULL;
  size_t pl = 0;
  char *jwks = NULL;
  rc = escrow_attest_signer_export(s, &pem, &pl);
  if (rc == 0)
    rc = escrow_attest_signer_jwks(s, &jwks, NULL);
  escrow_attest_signer_free(s);
  if (rc != 0) {
    escrow_secret_free(pem);
    return cli_fail(rc, "cannot export the issuer key");
  }
  int w = cli_write_file_atomic(out, pem, pl, 0600);
  escrow_secret_free(pem);
  if (w != 0) {
    escrow_free(jwks);
    return cli_error(CLI_EXIT_ERROR, "cannot write '%s': %s", out,
                     w == -EEXIST ? "it exists (not replaced)" : strerror(-w));
  }
  fprintf(stderr, "escrow: wrote a DEVELOPMENT attestation issuer key to %s; tokens it signs are "
                  "SIMULATED evidence, never use it in production\n",
          out);
  int st = print_text(jwks);
  escrow_free(jwks);
  return st;
}

const cli_command cli_cmd_attest_sim_issuer = {
    "attest", "sim-issuer", "attest sim-issuer --out FILE [--kid KID] [--bits N]",
    "Make a development attestation issuer key (SIMULATED evidence only) and print its JWKS.",
    "Writes the private key to FILE (PKCS#8 PEM, mode 0600, never replaced) and prints the "
    "public JWKS on stdout: give the JWKS to the verifier (verify-token --jwks, escrowd's "
    "trust store) and the key to sim-token. Tokens from this issuer are simulated evidence: "
    "they prove nothing about hardware and verifiers refuse them unless simulated evidence is "
    "explicitly allowed.",
    issuer_opts, 0, 0, run_issuer};

/* ---- runtime-data ------------------------------------------------------------------------ */

static const cli_opt rd_opts[] = {
    {"key", 0, CLI_VALUE, "FILE", "the enclave's ephemeral RSA key (PKCS#8 PEM)"},
    {"nonce", 0, CLI_VALUE, "N", "the platform's challenge nonce"},
    {"project", 0, CLI_VALUE, "ID", "project id"},
    {"run", 0, CLI_VALUE, "ID", "run id"},
    {"role", 0, CLI_VALUE, "ROLE", "whose key is asked for (e.g. ds or ao)"},
    {0}};

static int run_rd(const cli_args *a) {
  const char *names[] = {"key", "nonce", "project", "run", "role"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (cli_require(a, names[i]) == NULL)
      return CLI_EXIT_ERROR;
  uint8_t *key = NULL;
  size_t kl = 0;
  if (read_arg_file("the key", cli_get(a, "key"), &key, &kl) != 0)
    return CLI_EXIT_ERROR;
  escrow_attest_key *k = NULL;
  int rc = escrow_attest_key_from_bytes(&k, key, kl);
  sodium_memzero(key, kl);
  free(key);
  char *rd = NULL;
  if (rc == 0)
    rc = escrow_attest_runtime_data(&rd, NULL, k, cli_get(a, "nonce"), cli_get(a, "project"),
                                    cli_get(a, "run"), cli_get(a, "role"));
  escrow_attest_key_free(k);
  if (rc != 0)
    return cli_fail(rc, "cannot make the runtime data");
  int st = print_text(rd);
  escrow_free(rd);
  return st;
}

const cli_command cli_cmd_attest_runtime_data = {
    "attest", "runtime-data",
    "attest runtime-data --key FILE --nonce N --project ID --run ID --role ROLE",
    "Print the canonical runtime data an enclave binds into its evidence.",
    "The JSON {keys:[the key's public JWK], nonce, project_id, role, run_id}, members sorted "
    "and no whitespace; the evidence's report data is SHA-256 of these exact bytes.",
    rd_opts, 0, 0, run_rd};

/* ---- sim-token --------------------------------------------------------------------------- */

static const cli_opt token_opts[] = {
    {"issuer-key", 0, CLI_VALUE, "FILE", "the development issuer's private key (sim-issuer)"},
    {"kid", 0, CLI_VALUE, "KID", "the issuer key's kid as in its JWKS (default: thumbprint)"},
    {"issuer", 0, CLI_VALUE, "URL", "the token's iss, e.g. http://127.0.0.1:8443/sim"},
    {"package-digest", 0, CLI_VALUE, "D", "the workload's package digest claim"},
    {"now", 0, CLI_VALUE, "SECONDS", "issue time (default: now)"},
    {"lifetime", 0, CLI_VALUE, "SECONDS", "validity (default 600)"},
    {0}};

static int run_token(const cli_args *a) {
  const char *keyf = cli_require(a, "issuer-key");
  const char *iss = keyf != NULL ? cli_require(a, "issuer") : NULL;
  if (keyf == NULL || iss == NULL)
    return CLI_EXIT_ERROR;
  escrow_attest_sim_opts o = ESCROW_ATTEST_SIM_OPTS_INIT;
  o.issuer = iss;
  o.package_digest = cli_get(a, "package-digest");
  if (now_arg(a, &o.now) != 0)
    return CLI_EXIT_ERROR;
  if (cli_get(a, "lifetime") != NULL)
    o.lifetime = (unsigned)strtoul(cli_get(a, "lifetime"), NULL, 10);
  uint8_t *key = NULL, *rd = NULL;
  size_t kl = 0, rl = 0;
  if (read_arg_file("the issuer key", keyf, &key, &kl) != 0 ||
      read_arg_file("the runtime data", a->pos[0], &rd, &rl) != 0) {
    free(key);
    return CLI_EXIT_ERROR;
  }
  trim(rd, &rl);
  escrow_attest_signer *s = NULL;
  int rc = escrow_attest_signer_from_bytes(&s, key, kl, cli_get(a, "kid"));
  sodium_memzero(key, kl);
  free(key);
  char *tok = NULL;
  if (rc == 0)
    rc = escrow_attest_sim_issue(&tok, NULL, s, &o, rd, rl);
  escrow_attest_signer_free(s);
  free(rd);
  if (rc != 0)
    return cli_fail(rc, "cannot issue a simulated token");
  int st = print_text(tok);
  escrow_free(tok);
  return st;
}

const cli_command cli_cmd_attest_sim_token = {
    "attest", "sim-token",
    "attest sim-token RUNTIME_DATA --issuer-key FILE --issuer URL [--kid KID] "
    "[--package-digest D] [--now S] [--lifetime S]",
    "Issue a SIMULATED attestation token (an Azure-Attestation-shaped RS256 JWT) for runtime "
    "data.",
    "RUNTIME_DATA is a file with the enclave's canonical runtime-data JSON ({keys, nonce, "
    "project_id, role, run_id}); the token carries it as x-ms-runtime, its SHA-256 as "
    "x-escrow-reportdata, and x-ms-attestation-type \"sim\" and x-escrow-simulated true. "
    "Prints the compact token.",
    token_opts, 1, 1, run_token};

/* ---- verify-token ------------------------------------------------------------------------ */

static const cli_opt verify_opts[] = {
    {"issuer", 0, CLI_VALUE, "URL", "the trusted issuer"},
    {"jwks", 0, CLI_VALUE, "FILE", "the trusted issuer's JWKS"},
    {"format", 0, CLI_VALUE, "F", "evidence format (default sim, the only one built)"},
    {"allow-simulated", 0, CLI_FLAG, NULL, "accept simulated evidence (development only)"},
    {"runtime-data", 0, CLI_VALUE, "FILE", "the runtime data sent with the token, to check"},
    {"now", 0, CLI_VALUE, "SECONDS", "verification time (default: now)"},
    {0}};

static int run_verify(const cli_args *a) {
  const char *iss = cli_require(a, "issuer");
  const char *jf = iss != NULL ? cli_require(a, "jwks") : NULL;
  if (iss == NULL || jf == NULL)
    return CLI_EXIT_ERROR;
  const char *format = cli_get(a, "format") != NULL ? cli_get(a, "format") : "sim";
  escrow_attest_verify_opts o = ESCROW_ATTEST_VERIFY_OPTS_INIT;
  o.allow_simulated = cli_flag(a, "allow-simulated");
  if (now_arg(a, &o.now) != 0)
    return CLI_EXIT_ERROR;
  uint8_t *jwks = NULL, *tok = NULL, *rd = NULL;
  size_t jl = 0, tl = 0, rl = 0;
  char *buf = NULL;
  int st = CLI_EXIT_ERROR;
  if (read_arg_file("the JWKS", jf, &jwks, &jl) != 0)
    goto done;
  if (strcmp(a->pos[0], "-") == 0) {
    const char *t = cli_url_arg("-", &buf);
    if (t == NULL) {
      cli_error(CLI_EXIT_ERROR, "no token on standard input");
      goto done;
    }
    tl = strlen(t);
    tok = malloc(tl + 1);
    if (tok == NULL)
      goto done;
    memcpy(tok, t, tl + 1);
  } else if (read_arg_file("the token", a->pos[0], &tok, &tl) != 0) {
    goto done;
  }
  trim(tok, &tl);
  if (cli_get(a, "runtime-data") != NULL) {
    if (read_arg_file("the runtime data", cli_get(a, "runtime-data"), &rd, &rl) != 0)
      goto done;
    trim(rd, &rl);
    o.runtime_data = rd;
    o.runtime_data_len = rl;
  }
  escrow_attest_trust *t = NULL;
  int rc = escrow_attest_trust_new(&t);
  if (rc == 0)
    rc = escrow_attest_trust_add_issuer(t, format, iss, jwks, jl);
  if (rc != 0) {
    escrow_attest_trust_free(t);
    st = cli_fail(rc, "cannot trust the issuer");
    goto done;
  }
  char *claims = NULL;
  rc = escrow_attest_verify(&claims, NULL, t, format, tok, tl, &o);
  escrow_attest_trust_free(t);
  if (rc == ESCROW_E_NOTFOUND) { /* untrusted issuer or unknown kid: a refusal, not a path */
    st = cli_error(CLI_EXIT_NEGATIVE, "the token does not verify: %s", escrow_error_last());
    goto done;
  }
  if (rc != 0) {
    st = cli_fail(rc, "the token does not verify");
    goto done;
  }
  if (strstr(claims, "\"x-escrow-simulated\":true") != NULL)
    fprintf(stderr, "escrow: warning: this evidence is SIMULATED (no TEE hardware was "
                    "verified)\n");
  st = print_text(claims);
  escrow_free(claims);
done:
  free(jwks);
  free(tok);
  free(rd);
  free(buf);
  return st;
}

const cli_command cli_cmd_attest_verify_token = {
    "attest", "verify-token",
    "attest verify-token TOKEN|- --issuer URL --jwks FILE [--allow-simulated] "
    "[--runtime-data FILE] [--now S]",
    "Verify an attestation token against a trusted issuer's JWKS and print its claims.",
    "TOKEN is a file holding the compact token, or - for standard input. Checks: RS256 only, "
    "kid in the JWKS, iss equal to --issuer, exp/nbf (60 s leeway), and the report data bound "
    "to the runtime data. Simulated evidence is refused unless --allow-simulated. Prints the "
    "normalised claims (the token's plus x-escrow-verifier, -authority, -simulated, "
    "-verified-at). Exit 0 verified, 1 refused, 2 usage or I/O error.",
    verify_opts, 1, 1, run_verify};

/* ---- policy-eval ------------------------------------------------------------------------- */

static const cli_opt policy_opts[] = {{0}};

static int run_policy(const cli_args *a) {
  uint8_t *pol = NULL, *claims = NULL;
  size_t pl = 0, cl = 0;
  if (read_arg_file("the policy", a->pos[0], &pol, &pl) != 0 ||
      read_arg_file("the claims", a->pos[1], &claims, &cl) != 0) {
    free(pol);
    return CLI_EXIT_ERROR;
  }
  int rc = escrow_attest_policy_eval(pol, pl, claims, cl);
  free(pol);
  free(claims);
  if (rc != 0 && rc != ESCROW_E_CHECK)
    return cli_fail(rc, "cannot evaluate the policy");
  cli_json j;
  if (cli_json_init(&j) != 0)
    return CLI_EXIT_ERROR;
  cli_json_open(&j);
  cli_json_kv_bool(&j, "allowed", rc == 0);
  cli_json_kv_string(&j, "reason", rc == 0 ? "the release policy allows release"
                                           : escrow_error_last());
  cli_json_close(&j);
  int st = cli_json_print(&j);
  return st != CLI_EXIT_OK ? st : rc == 0 ? CLI_EXIT_OK : CLI_EXIT_NEGATIVE;
}

const cli_command cli_cmd_attest_policy_eval = {
    "attest", "policy-eval", "attest policy-eval POLICY CLAIMS",
    "Evaluate an Azure Key Vault release policy against attestation claims.",
    "POLICY is a release policy file (the grammar of Azure Key Vault and Managed HSM, or Key "
    "Vault's {contentType, data} form); CLAIMS a JSON object such as verify-token prints. "
    "Prints {\"allowed\", \"reason\"}; the reason names the condition that failed. Exit 0 "
    "allowed, 1 denied or a malformed policy or claims (the message says which), 2 usage or "
    "I/O error.",
    policy_opts, 2, 2, run_policy};
