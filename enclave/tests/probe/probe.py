"""Runs inside escrow-enclave's sandbox and checks its isolation from the inside.

Each check is True when the sandbox holds. No check sends a packet to a non-loopback address:
network checks look at the interfaces and routes, or use UDP connect() (which sends nothing)
to a TEST-NET address, or DNS with no resolver configured. The result goes out as a report
({"report": {"checks": {...}}}) that the test's criteria accept only when every check is True;
the names of failed checks are also posted as progress lines.
"""
import ctypes
import errno
import json
import os
import socket
import sys
import threading
import time
import urllib.request

URL = os.environ.get("ENCLAVE_URL", "http://localhost:5000").rstrip("/")
libc = ctypes.CDLL(None, use_errno=True)
checks = {}


def post(path, body):
    req = urllib.request.Request(URL + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def check(name, fn):
    try:
        checks[name] = bool(fn())
    except Exception as e:  # a check that crashes has not shown isolation
        checks[name] = False
        post("/api/v1/log", {"message": f"{name}: {type(e).__name__}: {e}"})


def fails(fn, *errnos):
    try:
        fn()
    except OSError as e:
        return not errnos or e.errno in errnos
    return False


def sock(family, kind, proto=0):
    def f():
        s = socket.socket(family, kind, proto)
        s.close()
    return f


def syscall_denied(name, *args):
    fn = getattr(libc, name)
    r = fn(*args)
    return r == -1 and ctypes.get_errno() in (errno.EPERM, errno.ENOSYS, errno.EINVAL)


def only_loopback():
    return [n for _, n in socket.if_nameindex()] == ["lo"]


def no_routes():
    with open("/proc/net/route") as f:
        return len(f.read().strip().splitlines()) <= 1  # the header only


def udp_unreachable():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 53))  # TEST-NET-1; connect() on UDP sends nothing
    except OSError as e:
        return e.errno == errno.ENETUNREACH
    finally:
        s.close()
    return False


def tcp_unreachable():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(("192.0.2.1", 80))  # no route: fails before any packet
    except OSError as e:
        return e.errno == errno.ENETUNREACH
    finally:
        s.close()
    return False


def dns_fails():
    try:
        socket.getaddrinfo("example.com", 443)
    except socket.gaierror:
        return True
    return False


def cannot_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
    except OSError as e:
        return e.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT)
    return False


def can_write(path):
    with open(path, "w") as f:
        f.write("x")
    os.unlink(path)
    return True


def unreadable(path):
    try:
        open(path, "rb").close()
    except OSError:
        return True
    return False


def no_caps():
    with open("/proc/self/status") as f:
        st = dict(l.split(":", 1) for l in f if ":" in l)
    return int(st["CapEff"].strip(), 16) == 0 and int(st["CapBnd"].strip(), 16) == 0


def pids_capped():
    """Start threads until the pids cap stops us; the cap (256) must hold."""
    ev = threading.Event()
    started = []
    try:
        for _ in range(400):
            t = threading.Thread(target=ev.wait, daemon=True)
            t.start()
            started.append(t)
    except RuntimeError:
        pass
    finally:
        ev.set()
    for t in started:
        t.join()
    return len(started) < 256


def unknown_field_redacted():
    code, _ = post("/api/v1/report", {"name": "probe", "status": "Completed",
                                      "json_data": {"report": {"checks": {}},
                                                    "PROBE-SECRET-FIELD": 1}})
    return code == 400


def foreign_sas_refused():
    import base64
    b = base64.b64encode(b"https://evil.example/c?sv=1&sig=x").decode()
    try:
        urllib.request.urlopen(URL + "/api/v1/data/files?SASUrl=" + b, timeout=10)
    except urllib.error.HTTPError as e:
        return e.code == 403
    return False


check("only_loopback_interface", only_loopback)
check("no_routes", no_routes)
check("udp_unreachable", udp_unreachable)
check("tcp_unreachable", tcp_unreachable)
check("dns_fails", dns_fails)
check("vsock_denied", lambda: fails(sock(40, socket.SOCK_STREAM)))
check("packet_socket_denied", lambda: fails(sock(17, socket.SOCK_RAW)))
check("raw_socket_denied", lambda: fails(sock(socket.AF_INET, socket.SOCK_RAW, 1)))
check("ptrace_denied", lambda: syscall_denied("ptrace", 0, 0, 0, 0))  # PTRACE_TRACEME
check("mount_denied", lambda: syscall_denied("mount", b"none", b"/tmp", b"tmpfs", 0, None))
check("unshare_denied", lambda: syscall_denied("unshare", 0x10000000))  # CLONE_NEWUSER
check("code_read_only", lambda: cannot_write("/app/probe.py") and cannot_write("/app/new"))
check("runtime_read_only", lambda: cannot_write("/usr/probe") and cannot_write("/etc/probe"))
check("scratch_writable", lambda: can_write("/tmp/probe"))
check("host_key_unreadable", lambda: unreadable(os.environ["HOST_KEY_PATH"]))
def control_socket_closed():
    """The hand-over socket took sandbox-init's one connection and is closed: nobody else gets in."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect("/run/enclave/ctl.sock")
        return False
    except ConnectionRefusedError:
        return True
    finally:
        s.close()


check("control_socket_closed", control_socket_closed)
check("no_output_folder_in_validation", lambda: not os.path.exists("/output")
      and "ESCROW_OUTPUT_DIR" not in os.environ)
check("host_root_invisible", lambda: not os.path.exists("/root") and not os.path.exists("/sys"))
check("own_pid_namespace", lambda: len([p for p in os.listdir("/proc") if p.isdigit()]) < 10)
check("unprivileged", lambda: os.getuid() != 0 and no_caps())
check("pids_capped", pids_capped)
check("unknown_field_refused", unknown_field_redacted)
check("foreign_sas_refused", foreign_sas_refused)
check("tls_with_run_ca", lambda: URL.startswith("https://localhost:")
      and os.environ.get("SSL_CERT_FILE") == "/run/enclave/ca.pem"
      and urllib.request.urlopen(URL + "/health", timeout=10).status == 200)
check("environment", lambda: os.environ.get("ESCROW_RUN_ID") and os.environ.get("ITERATIONS") == "7"
      and os.environ.get("PROBE_MODE") == "isolation")

print("PROBE-STDOUT-MARKER")
print("PROBE-STDERR-MARKER", file=sys.stderr)
for k, v in checks.items():
    if not v:
        post("/api/v1/log", {"message": f"check failed: {k}", "status": "In Progress"})
code, body = post("/api/v1/report", {"name": "isolation probe", "status": "Completed",
                                     "json_data": {"report": {"checks": checks}}})
sys.exit(0 if code == 200 else 3)
