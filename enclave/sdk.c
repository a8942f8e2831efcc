/*
 * EnclaveSDK shipped into every run: the sandbox backend does not execute the Dockerfile's
 * `RUN pip install EnclaveSDK`, so escrow-enclave copies the SDK's Python files into the run
 * folder, binds them read-only at ENC_SDK_MOUNT and appends that folder to PYTHONPATH (last, so
 * a copy the package ships or names in its own PYTHONPATH wins).
 * Where the SDK comes from: --sdk-dir; else, for a binary running from its build tree, the
 * source tree's bindings/python/src/EnclaveSDK; else the installed copy under the data dir.
 */
#define _GNU_SOURCE
#include "enclave.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef ESCROW_ENCLAVE_SDK_BUILD_DIR
#define ESCROW_ENCLAVE_SDK_BUILD_DIR ""
#endif
#ifndef ESCROW_ENCLAVE_BINARY_DIR
#define ESCROW_ENCLAVE_BINARY_DIR ""
#endif
#ifndef ESCROW_ENCLAVE_SDK_INSTALL_DIR
#define ESCROW_ENCLAVE_SDK_INSTALL_DIR "/usr/local/share/escrow/EnclaveSDK"
#endif

#define SDK_MAX_FILES 256
#define SDK_MAX_BYTES (16u << 20)
#define SDK_MAX_DEPTH 8

const char *enc_sdk_default_dir(void) {
  static char exe[PATH_MAX], bin[PATH_MAX];
  const char *b = ESCROW_ENCLAVE_BINARY_DIR;
  if (*b && *ESCROW_ENCLAVE_SDK_BUILD_DIR && realpath("/proc/self/exe", exe) && realpath(b, bin)) {
    size_t n = strlen(bin);
    if (!strncmp(exe, bin, n) && exe[n] == '/') return ESCROW_ENCLAVE_SDK_BUILD_DIR;
  }
  return ESCROW_ENCLAVE_SDK_INSTALL_DIR;
}

typedef struct sdk_copy {
  size_t files;
  uint64_t bytes;
  char *why;
  size_t whylen;
} sdk_copy;

static int ends_with_py(const char *n) {
  size_t l = strlen(n);
  return l > 3 && !strcmp(n + l - 3, ".py");
}

static int copy_file(sdk_copy *c, const char *src, const char *dst, off_t size) {
  if (c->files + 1 > SDK_MAX_FILES || c->bytes + (uint64_t)size > SDK_MAX_BYTES) {
    snprintf(c->why, c->whylen, "more than %d files or %u MiB", SDK_MAX_FILES, SDK_MAX_BYTES >> 20);
    return -1;
  }
  int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  int out = in >= 0 ? open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644) : -1;
  char buf[65536];
  ssize_t r = 0;
  uint64_t got = 0;
  while (in >= 0 && out >= 0 && (r = read(in, buf, sizeof(buf))) > 0) {
    got += (uint64_t)r;
    if (got > (uint64_t)size || write(out, buf, (size_t)r) != r) { r = -1; break; }
  }
  int rc = (in < 0 || out < 0 || r < 0) ? -1 : 0;
  if (rc != 0) snprintf(c->why, c->whylen, "%s could not be copied: %s", src, strerror(errno));
  if (in >= 0) close(in);
  if (out >= 0 && close(out) != 0 && rc == 0) {
    snprintf(c->why, c->whylen, "%s could not be written: %s", dst, strerror(errno));
    rc = -1;
  }
  if (out >= 0) fchmodat(AT_FDCWD, dst, 0644, 0); /* readable by the sandbox user, whatever the umask */
  c->files++;
  c->bytes += got;
  return rc;
}

/* the *.py files of src, in folders other than __pycache__ and hidden ones; links are skipped */
static int copy_py_tree(sdk_copy *c, const char *src, const char *dst, int depth) {
  if (depth > SDK_MAX_DEPTH) { snprintf(c->why, c->whylen, "folders nested too deep"); return -1; }
  if (mkdir(dst, 0755) != 0 || chmod(dst, 0755) != 0) {
    snprintf(c->why, c->whylen, "cannot create %s: %s", dst, strerror(errno));
    return -1;
  }
  DIR *d = opendir(src);
  if (!d) { snprintf(c->why, c->whylen, "%s: %s", src, strerror(errno)); return -1; }
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d))) {
    if (e->d_name[0] == '.' || !strcmp(e->d_name, "__pycache__")) continue;
    char s[PATH_MAX], t[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(s, sizeof(s), "%s/%s", src, e->d_name) >= sizeof(s) ||
        (size_t)snprintf(t, sizeof(t), "%s/%s", dst, e->d_name) >= sizeof(t)) {
      snprintf(c->why, c->whylen, "a path under %s is too long", src);
      rc = -1;
    } else if (lstat(s, &st) != 0) {
      snprintf(c->why, c->whylen, "%s: %s", s, strerror(errno));
      rc = -1;
    } else if (S_ISDIR(st.st_mode)) {
      rc = copy_py_tree(c, s, t, depth + 1);
    } else if (S_ISREG(st.st_mode) && ends_with_py(e->d_name)) {
      rc = copy_file(c, s, t, st.st_size);
    }
  }
  closedir(d);
  return rc;
}

int enc_sdk_stage(const char *sdk_dir, const char *dst, size_t *n_files, char *why, size_t whylen) {
  *n_files = 0;
  why[0] = 0;
  char p[PATH_MAX];
  struct stat st;
  if (!sdk_dir || !*sdk_dir) { snprintf(why, whylen, "no SDK folder known"); return -1; }
  if ((size_t)snprintf(p, sizeof(p), "%s/__init__.py", sdk_dir) >= sizeof(p) || stat(p, &st) != 0 ||
      !S_ISREG(st.st_mode)) {
    snprintf(why, whylen, "%s is not an EnclaveSDK package folder (no __init__.py)", sdk_dir);
    return -1;
  }
  if (mkdir(dst, 0755) != 0 || chmod(dst, 0755) != 0 ||
      (size_t)snprintf(p, sizeof(p), "%s/EnclaveSDK", dst) >= sizeof(p)) {
    snprintf(why, whylen, "cannot create %s: %s", dst, strerror(errno));
    return -1;
  }
  sdk_copy c = {0, 0, why, whylen};
  int rc = copy_py_tree(&c, sdk_dir, p, 0);
  *n_files = c.files;
  return rc;
}

int enc_sdk_pythonpath(char **env, size_t *n_env) {
  for (size_t i = *n_env; i-- > 0;) { /* the last one set is the one the sandbox gets */
    if (strncmp(env[i], "PYTHONPATH=", 11) != 0) continue;
    const char *old = env[i] + 11; /* the image's own entries come first */
    char *kv = NULL;
    if (asprintf(&kv, "PYTHONPATH=%s%s%s", old, *old ? ":" : "", ENC_SDK_MOUNT) < 0) return -1;
    free(env[i]);
    env[i] = kv;
    return 0;
  }
  if (asprintf(&env[*n_env], "PYTHONPATH=%s", ENC_SDK_MOUNT) < 0) return -1;
  (*n_env)++;
  return 0;
}
