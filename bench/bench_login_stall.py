#!/usr/bin/env python3
"""escrowd: do password logins hold up API reads? Each login checks an Argon2id hash (64 MiB,
about a quarter of a second of one core); they run on escrowd's request workers. This bench
reads the project page (RS256 JWT, as the API sample does) in a loop on one keep-alive
connection, first alone and then while CLIENTS threads log in as fast as they are answered,
and prints the reads' p50/p99/max latency in each phase and the logins per second. SQLite in a
temporary data folder; traffic to 127.0.0.1 only.

usage: python3 bench/bench_login_stall.py --escrowd build/server/escrowd
           [--clients 4] [--seconds 10] [--serve-args "--workers 8"]
"""
import argparse, http.client, json, os, shlex, shutil, subprocess, sys, tempfile, threading, time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server", "tests"))
os.environ.setdefault("ESCROWD_BIN", "escrowd")
os.environ.setdefault("ESCROW_TEST_VECTORS", os.path.join(HERE, "..", "tests", "vectors"))
import api_test as A  # noqa: E402  (JWTs as the API sample makes them)

PASSWORD = "correct horse battery staple"


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q / 100 * len(xs)))] * 1000 if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--escrowd", required=True)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--serve-args", default="")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="escrowd-bench-")
    data = os.path.join(tmp, "data")
    keys = os.path.join(os.environ["ESCROW_TEST_VECTORS"], "keys")
    pwfile = os.path.join(tmp, "pw")
    with open(pwfile, "w") as f:
        f.write(PASSWORD + "\n")

    A.BIN, A.DATA = args.escrowd, data
    admin = A.admin_json
    admin("create-org", "--name", "AO")
    admin("create-org", "--name", "DS")
    admin("create-user", "--org", "AO", "--email", "ao@x.test", "--public-key",
          os.path.join(keys, "kek3072.pub.pem"), "--password-file", pwfile)
    pid = admin("create-project", "--name", "Bench", "--ao-org", "AO", "--ds-org", "DS", "--kek-bits", "3072",
                "--ao-user", "ao@x.test")["id"]
    log = open(os.path.join(tmp, "escrowd.log"), "w")
    proc = subprocess.Popen([args.escrowd, "serve", "--data", data, "--listen", "127.0.0.1:0",
                             "--login-max-failures", "1000"] + shlex.split(args.serve_args),
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        host, port = json.loads(proc.stdout.readline())["listening"].split(":")
        token = A.make_jwt(A.load_key("kek3072.key.pem"), A.claims(pid, "ao@x.test", exp_delta=3000))
        page = "/api/v1/project?project_id=" + pid

        def reads(seconds):
            c = http.client.HTTPConnection(host, int(port), timeout=60)
            lat, end = [], time.time() + seconds
            while time.time() < end:
                t0 = time.perf_counter()
                c.request("GET", page, headers={"Authorization": "Bearer " + token})
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    sys.exit(f"the project page answered {r.status}")
                lat.append(time.perf_counter() - t0)
            c.close()
            return lat

        stop = threading.Event()
        logins = [0]
        lock = threading.Lock()
        body = urllib.parse.urlencode({"email": "ao@x.test", "password": PASSWORD})

        def login_loop():
            c = http.client.HTTPConnection(host, int(port), timeout=60)
            while not stop.is_set():
                c.request("POST", "/api/v1/login/", body=body,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    sys.exit(f"a login answered {r.status}")
                with lock:
                    logins[0] += 1
            c.close()

        alone = reads(args.seconds / 2)
        ts = [threading.Thread(target=login_loop) for _ in range(args.clients)]
        for t in ts:
            t.start()
        time.sleep(0.5)  # the logins under way
        n0, t0 = logins[0], time.time()
        busy = reads(args.seconds)
        rate = (logins[0] - n0) / (time.time() - t0)
        stop.set()
        for t in ts:
            t.join()
        print(f"escrowd {args.serve_args or '(defaults)'} on {os.cpu_count()} cores, SQLite")
        for name, lat in (("reads alone", alone), (f"reads, {args.clients} clients logging in", busy)):
            print(f"  {name:34} {len(lat):6d} reads  p50 {pct(lat, 50):7.2f} ms  p99 {pct(lat, 99):7.2f} ms"
                  f"  max {max(lat) * 1000:7.2f} ms")
        print(f"  logins: {rate:.1f}/s")
        print("reproduce: python3 bench/bench_login_stall.py --escrowd " + args.escrowd +
              f" --clients {args.clients} --seconds {args.seconds:g}" +
              (f" --serve-args {shlex.quote(args.serve_args)}" if args.serve_args else ""))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
