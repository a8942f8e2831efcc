/* libescrow error model: static descriptions and the thread's last detailed message. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "internal.h"

#define ESCROW__ERRMSG_SIZE 512

static _Thread_local char last_message[ESCROW__ERRMSG_SIZE];
static _Thread_local int last_code;

const char *escrow_strerror(int code) {
  switch (code) {
  case ESCROW_OK: return "success";
  case ESCROW_E_INVALID: return "invalid argument";
  case ESCROW_E_NOMEM: return "out of memory";
  case ESCROW_E_IO: return "input/output error";
  case ESCROW_E_FORMAT: return "malformed input";
  case ESCROW_E_AUTH: return "authentication failed";
  case ESCROW_E_KEY: return "unusable key";
  case ESCROW_E_UNSUPPORTED: return "unsupported version or feature";
  case ESCROW_E_TRUNCATED: return "input truncated";
  case ESCROW_E_LIMIT: return "limit exceeded";
  case ESCROW_E_CRYPTO: return "cryptographic backend failure";
  case ESCROW_E_NOTFOUND: return "not found";
  case ESCROW_E_EXISTS: return "already exists";
  case ESCROW_E_STATE: return "invalid state for this call";
  case ESCROW_E_BUFSIZE: return "output buffer too small";
  case ESCROW_E_MISMATCH: return "data does not belong here";
  case ESCROW_E_CHECK: return "check failed";
  default: return "unknown error";
  }
}

const char *escrow_error_last(void) { return last_message; }

int escrow_error_last_code(void) { return last_code; }

void escrow_error_clear(void) {
  last_message[0] = '\0';
  last_code = 0;
}

/* Messages quote input (a claim, a kid, a file name): a control character in it is shown as
 * '?', so a message is one line that cannot forge log lines or move a terminal's cursor. */
static void printable(char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

__attribute__((format(printf, 2, 0)))
static int set_message(int code, const char *fmt, va_list ap) {
  vsnprintf(last_message, sizeof last_message, fmt, ap);
  printable(last_message);
  last_code = code;
  return code;
}

int escrow__err(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_message(code, fmt, ap);
  va_end(ap);
  return code;
}

int escrow__err_openssl(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_message(code, fmt, ap);
  va_end(ap);
  unsigned long e = ERR_peek_last_error();
  if (e != 0) {
    const char *reason = ERR_reason_error_string(e);
    size_t used = strlen(last_message);
    if (reason != NULL && used < sizeof last_message)
      snprintf(last_message + used, sizeof last_message - used, ": %s", reason);
    printable(last_message);
  }
  ERR_clear_error();
  return code;
}

int escrow__err_nomem(void) { return escrow__err(ESCROW_E_NOMEM, "out of memory"); }

int escrow__err_errno(const char *what, const char *path) {
  int saved = errno;
  int code = saved == ENOENT ? ESCROW_E_NOTFOUND : saved == EEXIST ? ESCROW_E_EXISTS : ESCROW_E_IO;
  if (path != NULL)
    return escrow__err(code, "%s '%s': %s", what, path, strerror(saved));
  return escrow__err(code, "%s: %s", what, strerror(saved));
}
