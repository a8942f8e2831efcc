/* The runtime parameter name rule (manual 14.7.5), shared by escrowd and escrow-enclave. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

int escrow_runtime_param_name_ok(const char *name) {
  static const char *const reserved[] = {
      "PATH",          "HOME",          "TMPDIR",     "LANG",
      "ENCLAVE_URL",   "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
      "PYTHONPATH",    "PYTHONHOME",    "PYTHONDONTWRITEBYTECODE", "MLFLOW_TRACKING_URI",
      NULL};
  static const char *const reserved_prefixes[] = {"ESCROW_", "LD_", "BWRAP", NULL};
  if (!name || !isalpha((unsigned char)*name) || strlen(name) > 128) return 0;
  const char *p = name + 1;
  while (isalnum((unsigned char)*p)) p++;
  while (*p) {
    if (*p != '_' && *p != '-' && *p != '.') return 0;
    p++;
    if (!isalnum((unsigned char)*p)) return 0;
    while (isalnum((unsigned char)*p)) p++;
  }
  for (size_t i = 0; reserved[i]; i++)
    if (strcasecmp(name, reserved[i]) == 0) return 0;
  for (size_t i = 0; reserved_prefixes[i]; i++)
    if (strncasecmp(name, reserved_prefixes[i], strlen(reserved_prefixes[i])) == 0) return 0;
  return 1;
}
