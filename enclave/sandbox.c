/* The sandbox backend: a SIMULATED TEE. bubblewrap (all namespaces, loopback-only network,
 * read-only code and runtime, size-capped scratch, no capabilities, an unprivileged uid when
 * started as root), cgroup v1 limits (memory, CPU quota, pids) and a seccomp filter (no vsock,
 * packet or raw IP sockets, ptrace, mount, new namespaces, keyctl, bpf, io_uring). Inside,
 * this program in sandbox-init mode opens 127.0.0.1:5000 in the sandbox's network namespace and
 * hands that listening socket to the host, which serves the Enclave API on it. */
#define _GNU_SOURCE
#include "enclave.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SANDBOX_UID 65534 /* the host uid the sandbox runs as when started by root */
#define INNER_UID 1000

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

/* ---- seccomp ---------------------------------------------------------------------------------- */

static int seccomp_fd(void) {
  static const char *const denied[] = {
      "ptrace", "mount", "umount2", "unshare", "setns", "pivot_root", "chroot", "keyctl",
      "add_key", "request_key", "bpf", "perf_event_open", "io_uring_setup", "io_uring_enter",
      "io_uring_register", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
      "mount_setattr", "process_vm_readv", "process_vm_writev", "kexec_load", "init_module",
      "finit_module", "delete_module", "userfaultfd", "swapon", "swapoff", "reboot", NULL};
  int rc = 0;
  /* sockets: vsock (the VM's agents listen there; not isolated by network namespaces), packet,
   * and raw sockets of any family; clone with any namespace flag (one rule per flag) */
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return -1;
  for (size_t i = 0; denied[i] && rc == 0; i++) {
    int nr = seccomp_syscall_resolve_name(denied[i]);
    if (nr == __NR_SCMP_ERROR) continue;
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
  }
  const int fams[] = {AF_VSOCK, AF_PACKET};
  for (size_t i = 0; i < 2 && rc == 0; i++) {
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                          SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fams[i]));
    if (rc == 0)
      rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
                            SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fams[i]));
  }
  /* raw IP sockets (netlink sockets are SOCK_RAW too and Python's if_nameindex needs them) */
  const int ipfams[] = {AF_INET, AF_INET6};
  for (size_t i = 0; i < 2 && rc == 0; i++)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 2,
                          SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)ipfams[i]),
                          SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW));
  const uint64_t flags[] = {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
                            CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};
  for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]) && rc == 0; i++)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, flags[i], flags[i]));
  if (rc == 0) {
    int nr = seccomp_syscall_resolve_name("clone3");
    if (nr != __NR_SCMP_ERROR) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
  }
  int fd = -1;
  if (rc == 0) {
    fd = memfd_create("escrow-seccomp", 0);
    if (fd >= 0 && (seccomp_export_bpf(ctx, fd) != 0 || lseek(fd, 0, SEEK_SET) != 0)) {
      close(fd);
      fd = -1;
    }
  }
  seccomp_release(ctx);
  return fd;
}

/* ---- cgroup v1 -------------------------------------------------------------------------------- */

static const char *const CG_CTRL[] = {"memory", "cpu", "pids", NULL};

static int cg_write(const char *ctrl, const char *name, const char *file, const char *val) {
  char p[512];
  snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s/%s", ctrl, name, file);
  int fd = open(p, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, val, strlen(val));
  close(fd);
  return n == (ssize_t)strlen(val) ? 0 : -1;
}

static long long cg_read_num(const char *ctrl, const char *name, const char *file,
                             const char *key) {
  char p[512], buf[4096];
  snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s/%s", ctrl, name, file);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  if (!key) return atoll(buf);
  for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
    size_t kl = strlen(key);
    if (!strncmp(l, key, kl) && l[kl] == ' ') return atoll(l + kl + 1);
  }
  return -1;
}

static int cg_setup(const char *name, const enc_sandbox *sb, char *why, size_t whylen) {
  if (geteuid() != 0) {
    snprintf(why, whylen, "not running as root");
    return -1;
  }
  for (size_t i = 0; CG_CTRL[i]; i++) {
    char p[512];
    snprintf(p, sizeof(p), "/sys/fs/cgroup/%s", CG_CTRL[i]);
    if (access(p, W_OK) != 0) {
      snprintf(why, whylen, "no cgroup v1 %s hierarchy at %s", CG_CTRL[i], p);
      return -1;
    }
    snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s", CG_CTRL[i], name);
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
      snprintf(why, whylen, "cannot create %s: %s", p, strerror(errno));
      return -1;
    }
  }
  char v[64];
  snprintf(v, sizeof(v), "%llu", (unsigned long long)sb->memory_mib << 20);
  if (cg_write("memory", name, "memory.limit_in_bytes", v) != 0) {
    snprintf(why, whylen, "cannot set memory.limit_in_bytes");
    return -1;
  }
  (void)cg_write("memory", name, "memory.memsw.limit_in_bytes", v); /* absent without swap acct */
  if (cg_write("cpu", name, "cpu.cfs_period_us", "100000") != 0) {
    snprintf(why, whylen, "cannot set cpu.cfs_period_us");
    return -1;
  }
  snprintf(v, sizeof(v), "%u", sb->vcpus * 100000u);
  if (cg_write("cpu", name, "cpu.cfs_quota_us", v) != 0) {
    snprintf(why, whylen, "cannot set cpu.cfs_quota_us");
    return -1;
  }
  snprintf(v, sizeof(v), "%u", sb->pids_max);
  if (cg_write("pids", name, "pids.max", v) != 0) {
    snprintf(why, whylen, "cannot set pids.max");
    return -1;
  }
  return 0;
}

static void cg_kill_all(const char *name) {
  char p[512], buf[8192];
  snprintf(p, sizeof(p), "/sys/fs/cgroup/pids/%s/cgroup.procs", name);
  for (int round = 0; round < 50; round++) {
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return;
    buf[n] = 0;
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) kill((pid_t)atoi(l), SIGKILL);
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
  }
}

static void cg_remove(const char *name) {
  for (size_t i = 0; CG_CTRL[i]; i++) {
    char p[512];
    snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s", CG_CTRL[i], name);
    for (int t = 0; t < 50 && rmdir(p) != 0 && errno == EBUSY; t++) {
      struct timespec ts = {0, 20 * 1000000};
      nanosleep(&ts, NULL);
    }
  }
}

/* ---- bwrap command line ----------------------------------------------------------------------- */

typedef struct argvb {
  char **v;
  size_t n, cap;
  int failed;
} argvb;

static void av(argvb *a, const char *s) {
  if (a->failed) return;
  if (a->n + 2 > a->cap) {
    size_t nc = a->cap ? a->cap * 2 : 64;
    char **nv = realloc(a->v, nc * sizeof(char *));
    if (!nv) { a->failed = 1; return; }
    a->v = nv;
    a->cap = nc;
  }
  if (!(a->v[a->n] = strdup(s))) { a->failed = 1; return; }
  a->n++;
  a->v[a->n] = NULL;
}

volatile sig_atomic_t enc_cancel_requested;

/* The hand-over: the first connection on the control socket comes from sandbox-init, before
 * the entry point starts (so no connection of the algorithm can be ahead of it). It carries the
 * Enclave API's listening socket (TCP 127.0.0.1:5000, created in the sandbox's network
 * namespace, so only the sandbox can reach it) and, in training runs, a descriptor of the
 * output folder. Each is checked: a listening IPv4 stream socket bound to 127.0.0.1, a folder on
 * a tmpfs. Anything else is closed and left at -1. Returns -1 while nothing is pending. */
static int take_handover(int ctl, int *listen_fd, int *out_fd) {
  *listen_fd = *out_fd = -1;
  int c = accept4(ctl, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return -1;
  char byte = 0;
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(2 * sizeof(int))];
  } u;
  struct iovec iov = {&byte, 1};
  struct msghdr m = {0};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = u.buf;
  m.msg_controllen = sizeof(u.buf);
  int fds[2] = {-1, -1};
  size_t nfd = 0;
  struct pollfd pf = {c, POLLIN, 0};
  (void)poll(&pf, 1, 1000); /* the message follows the connection at once */
  ssize_t n = recvmsg(c, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  close(c);
  struct cmsghdr *h = n == 1 ? CMSG_FIRSTHDR(&m) : NULL;
  if (h && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
    nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    if (nfd > 2) nfd = 2;
    memcpy(fds, CMSG_DATA(h), nfd * sizeof(int));
  }
  if (nfd >= 1) {
    int acc = 0, type = 0, dom = 0;
    socklen_t l1 = sizeof(acc), l2 = sizeof(type), l3 = sizeof(dom);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    if (getsockopt(fds[0], SOL_SOCKET, SO_ACCEPTCONN, &acc, &l1) == 0 && acc &&
        getsockopt(fds[0], SOL_SOCKET, SO_TYPE, &type, &l2) == 0 && type == SOCK_STREAM &&
        getsockopt(fds[0], SOL_SOCKET, SO_DOMAIN, &dom, &l3) == 0 && dom == AF_INET &&
        getsockname(fds[0], (struct sockaddr *)&sa, &sl) == 0 &&
        sa.sin_addr.s_addr == htonl(INADDR_LOOPBACK))
      *listen_fd = fds[0];
    else
      close(fds[0]);
  }
  if (nfd == 2) {
    struct stat st;
    struct statfs fs;
    if (fstat(fds[1], &st) == 0 && S_ISDIR(st.st_mode) && fstatfs(fds[1], &fs) == 0 &&
        fs.f_type == TMPFS_MAGIC)
      *out_fd = fds[1];
    else
      close(fds[1]);
  }
  return 0;
}

/* inside the sandbox: hand the listening socket (and the output folder, or -1) to the host */
static int give_handover(int listen_fd, int dir_fd, const char *ctl_path) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un un = {0};
  un.sun_family = AF_UNIX;
  snprintf(un.sun_path, sizeof(un.sun_path), "%s", ctl_path);
  int rc = -1;
  if (s >= 0 && connect(s, (struct sockaddr *)&un, sizeof(un)) == 0) {
    int fds[2] = {listen_fd, dir_fd};
    size_t nfd = dir_fd >= 0 ? 2 : 1;
    char byte = 'h';
    union {
      struct cmsghdr h;
      char buf[CMSG_SPACE(2 * sizeof(int))];
    } u;
    memset(&u, 0, sizeof(u));
    struct iovec iov = {&byte, 1};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = u.buf;
    m.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(nfd * sizeof(int));
    memcpy(CMSG_DATA(h), fds, nfd * sizeof(int));
    rc = sendmsg(s, &m, 0) == 1 ? 0 : -1;
  }
  if (s >= 0) close(s);
  return rc;
}

double enc_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int enc_sandbox_run(enc_sandbox *sb) {
  char cgname[128], why[1024] = "", p[2048], sz[32];
  snprintf(cgname, sizeof(cgname), "escrow-enclave-%s", sb->run_id);
  sb->cgroups_applied = cg_setup(cgname, sb, why, sizeof(why)) == 0;
  if (sb->cgroups_applied)
    enc_log_platform(sb->log, "Workload Launch",
                     "cgroup v1 limits: memory %u MiB, CPU quota %u vCPU, pids %u", sb->memory_mib,
                     sb->vcpus, sb->pids_max);
  else
    enc_log_platform(sb->log, "Workload Launch",
                     "cgroup limits NOT applied (%s): memory, CPU and pids are unbounded", why);
  int sfd = seccomp_fd();
  sb->seccomp_applied = sfd >= 0;
  if (sfd < 0) {
    enc_log_platform(sb->log, "Workload Launch", "the seccomp filter could not be built");
    if (sb->cgroups_applied) cg_remove(cgname);
    return -1;
  }
  argvb a = {0};
  av(&a, "bwrap");
  av(&a, "--unshare-all");
  av(&a, "--unshare-user");
  av(&a, "--disable-userns");
  av(&a, "--cap-drop");
  av(&a, "ALL");
  av(&a, "--die-with-parent");
  av(&a, "--new-session");
  av(&a, "--clearenv");
  av(&a, "--uid");
  snprintf(sz, sizeof(sz), "%d", INNER_UID);
  av(&a, sz);
  av(&a, "--gid");
  av(&a, sz);
  av(&a, "--hostname");
  av(&a, "enclave");
  av(&a, "--ro-bind"); av(&a, "/usr"); av(&a, "/usr");
  av(&a, "--symlink"); av(&a, "usr/lib"); av(&a, "/lib");
  av(&a, "--symlink"); av(&a, "usr/lib64"); av(&a, "/lib64");
  av(&a, "--symlink"); av(&a, "usr/bin"); av(&a, "/bin");
  av(&a, "--symlink"); av(&a, "usr/sbin"); av(&a, "/sbin");
  static const char *const etc[] = {"hosts", "passwd", "group", "nsswitch.conf", NULL};
  for (size_t i = 0; etc[i]; i++) {
    char dst[64];
    snprintf(p, sizeof(p), "%s/etc/%s", sb->run_dir, etc[i]);
    snprintf(dst, sizeof(dst), "/etc/%s", etc[i]);
    av(&a, "--ro-bind"); av(&a, p); av(&a, dst);
  }
  static const char *const host_etc[] = {"/etc/ssl", "/etc/alternatives", "/etc/ld.so.cache",
                                         "/etc/localtime", "/etc/mime.types", NULL};
  for (size_t i = 0; host_etc[i]; i++) {
    if (access(host_etc[i], R_OK) != 0) continue;
    av(&a, "--ro-bind"); av(&a, host_etc[i]); av(&a, host_etc[i]);
  }
  av(&a, "--proc"); av(&a, "/proc");
  av(&a, "--dev"); av(&a, "/dev");
  snprintf(sz, sizeof(sz), "%llu", (unsigned long long)sb->scratch_mib << 20);
  av(&a, "--size"); av(&a, sz); av(&a, "--tmpfs"); av(&a, "/tmp");
  if (sb->output_mib) { /* the training output folder: capped, handed to the host at the start */
    snprintf(sz, sizeof(sz), "%llu", (unsigned long long)sb->output_mib << 20);
    av(&a, "--size"); av(&a, sz); av(&a, "--perms"); av(&a, "0700");
    av(&a, "--tmpfs"); av(&a, ENC_OUTPUT_DIR);
  }
  av(&a, "--ro-bind"); av(&a, sb->code_dir); av(&a, sb->code_dest);
  snprintf(p, sizeof(p), "%s/api", sb->run_dir);
  av(&a, "--ro-bind"); av(&a, p); av(&a, "/run/enclave");
  snprintf(p, sizeof(p), "%s/bin/escrow-enclave", sb->run_dir);
  av(&a, "--ro-bind"); av(&a, p); av(&a, "/run/escrow-enclave");
  if (sb->sdk_dir) { av(&a, "--ro-bind"); av(&a, sb->sdk_dir); av(&a, ENC_SDK_MOUNT); }
  av(&a, "--remount-ro"); av(&a, "/"); /* the root and its mount points; /tmp stays writable */
  av(&a, "--chdir"); av(&a, sb->workdir);
  for (size_t i = 0; i < sb->n_env; i++) {
    const char *eq = strchr(sb->env[i], '=');
    if (!eq) continue;
    char *k = strndup(sb->env[i], (size_t)(eq - sb->env[i]));
    if (!k) { a.failed = 1; break; }
    av(&a, "--setenv"); av(&a, k); av(&a, eq + 1);
    free(k);
  }
  snprintf(sz, sizeof(sz), "%d", sfd);
  av(&a, "--seccomp"); av(&a, sz);
  av(&a, "/run/escrow-enclave");
  av(&a, "sandbox-init");
  av(&a, "--port"); av(&a, "5000");
  av(&a, "--ctl"); av(&a, "/run/enclave/ctl.sock");
  if (sb->output_mib) { av(&a, "--output"); av(&a, ENC_OUTPUT_DIR); }
  av(&a, "--");
  for (size_t i = 0; sb->argv[i]; i++) av(&a, sb->argv[i]);
  if (a.failed) {
    enc_strv_free(a.v, a.n);
    close(sfd);
    if (sb->cgroups_applied) cg_remove(cgname);
    return -1;
  }

  /* the control socket on which sandbox-init hands over the API's listening socket and the
   * output folder, before the entry point starts (so its connection is the first one queued) */
  int ctl = -1;
  sb->output_fd = -1;
  {
    struct sockaddr_un un = {0};
    un.sun_family = AF_UNIX;
    snprintf(un.sun_path, sizeof(un.sun_path), "%s/api/ctl.sock", sb->run_dir);
    ctl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (ctl < 0 || strlen(sb->run_dir) + 14 >= sizeof(un.sun_path) ||
        bind(ctl, (struct sockaddr *)&un, sizeof(un)) != 0 || chmod(un.sun_path, 0666) != 0 ||
        listen(ctl, 1) != 0) {
      if (ctl >= 0) close(ctl);
      enc_strv_free(a.v, a.n);
      close(sfd);
      if (sb->cgroups_applied) cg_remove(cgname);
      return -1;
    }
  }

  double t0 = enc_now_ms();
  sb->started_ms = t0;
  pid_t pid = fork();
  if (pid < 0) {
    enc_strv_free(a.v, a.n);
    close(sfd);
    if (ctl >= 0) close(ctl);
    if (sb->cgroups_applied) cg_remove(cgname);
    return -1;
  }
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (sb->cgroups_applied) {
      char me[32];
      snprintf(me, sizeof(me), "%d", (int)getpid());
      for (size_t i = 0; CG_CTRL[i]; i++)
        if (cg_write(CG_CTRL[i], cgname, "cgroup.procs", me) != 0) _exit(125);
    }
    if (geteuid() == 0) {
      if (setgroups(0, NULL) != 0 || setgid(SANDBOX_UID) != 0 || setuid(SANDBOX_UID) != 0)
        _exit(125);
      prctl(PR_SET_PDEATHSIG, SIGKILL); /* cleared by the uid change */
    }
    /* stdout/stderr of the algorithm stay in the enclave: never to the caller's terminal */
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul >= 0) {
      dup2(nul, 0);
      if (!getenv("ESCROW_ENCLAVE_DEBUG_STDIO")) {
        dup2(nul, 1);
        dup2(nul, 2);
      }
    }
    execvp("bwrap", a.v);
    _exit(127);
  }
  enc_strv_free(a.v, a.n);
  close(sfd);

  int status = 0;
  double deadline = sb->timeout_s ? t0 + sb->timeout_s * 1000.0 : 0;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) { status = 0; break; }
    if ((deadline && enc_now_ms() > deadline) || enc_cancel_requested) {
      if (enc_cancel_requested) sb->cancelled = 1;
      else sb->timed_out = 1;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      if (sb->cgroups_applied) cg_kill_all(cgname);
      waitpid(pid, &status, 0);
      break;
    }
    if (ctl >= 0) {
      struct pollfd pf = {ctl, POLLIN, 0};
      int lfd = -1, ofd = -1;
      if (poll(&pf, 1, 10) > 0 && take_handover(ctl, &lfd, &ofd) == 0) {
        close(ctl); /* one hand-over per run */
        ctl = -1;
        sb->output_fd = ofd;
        if (lfd < 0 || !sb->on_listen || sb->on_listen(sb->on_listen_arg, lfd) != 0)
          enc_log_platform(sb->log, "Workload Launch", "the Enclave API could not take over its socket");
      }
    } else {
      struct timespec ts = {0, 10 * 1000000};
      nanosleep(&ts, NULL);
    }
  }
  if (WIFEXITED(status)) sb->exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) sb->exit_code = 128 + WTERMSIG(status);
  if (ctl >= 0) close(ctl);
  if (sb->cgroups_applied) {
    long long oom = cg_read_num("memory", cgname, "memory.oom_control", "oom_kill");
    sb->oom_killed = oom > 0;
    long long peak = cg_read_num("memory", cgname, "memory.max_usage_in_bytes", NULL);
    sb->memory_peak = peak > 0 ? (uint64_t)peak : 0;
    cg_kill_all(cgname); /* anything left behind */
    cg_remove(cgname);
  }
  return 0;
}

/* ---- inside the sandbox: the API's socket and the entry point --------------------------------- */

int enc_sandbox_init_main(int argc, char **argv) {
  int port = 5000, i = 2;
  const char *output = NULL, *ctl = NULL;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--output") && i + 1 < argc) output = argv[++i];
    else if (!strcmp(argv[i], "--ctl") && i + 1 < argc) ctl = argv[++i];
    else if (!strcmp(argv[i], "--")) { i++; break; }
    else return 125;
  }
  if (i >= argc || !ctl || port <= 0 || port > 65535) return 125;
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(l, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(l, 128) != 0) {
    fprintf(stderr, "escrow-enclave: the Enclave API cannot listen: %s\n", strerror(errno));
    return 125;
  }
  int d = output ? open(output, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  /* the host serves the API on this socket; it listens before the entry point starts, so
   * there is no start-up race, and no relay copies the bytes */
  if ((output && d < 0) || give_handover(l, d, ctl) != 0) {
    fprintf(stderr, "escrow-enclave: the Enclave API socket cannot be handed to the host\n");
    return 125;
  }
  close(l);
  if (d >= 0) close(d);
  execvp(argv[i], argv + i);
  fprintf(stderr, "escrow-enclave: cannot run %s: %s\n", argv[i], strerror(errno));
  return 127;
}
