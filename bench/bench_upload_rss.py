#!/usr/bin/env python3
"""escrowd streaming uploads: peak memory of the server process while it receives one large
algorithm upload (multipart/form-data, Content-Length known, sent in 1 MiB pieces over
loopback). The file is sparse (a zip signature, then zeros), so the client costs no disk or
memory; the server streams it to a temporary file in its blob folder while hashing it, then the
algorithm rules run (the project has no AO WCEK, so the answer is 409 once the whole body is in
and the file is removed: the bench measures the receive, hash and write path). Prints the server's resident memory
before, its peak during the upload (sampled every 20 ms, and VmHWM), and the command to
reproduce. Traffic to 127.0.0.1 only.

usage: python3 bench/bench_upload_rss.py --escrowd build/server/escrowd [--size-mib 1024]
"""
import argparse, http.client, json, os, shutil, subprocess, sys, tempfile, threading, time, uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server", "tests"))
os.environ.setdefault("ESCROWD_BIN", "escrowd")
os.environ.setdefault("ESCROW_TEST_VECTORS", os.path.join(HERE, "..", "tests", "vectors"))
import api_test as A  # noqa: E402  (JWTs as the API sample makes them)


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--escrowd", required=True)
    ap.add_argument("--size-mib", type=int, default=1024)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="escrowd-bench-")
    data = os.path.join(tmp, "data")
    keys = os.path.join(os.environ["ESCROW_TEST_VECTORS"], "keys")

    A.BIN, A.DATA = args.escrowd, data
    admin = A.admin_json
    admin("create-org", "--name", "AO")
    admin("create-org", "--name", "DS")
    admin("create-user", "--org", "AO", "--email", "ao@x.test", "--public-key", os.path.join(keys, "kek3072.pub.pem"))
    pid = admin("create-project", "--name", "Bench", "--ao-org", "AO", "--ds-org", "DS", "--kek-bits", "3072",
                "--ao-user", "ao@x.test")["id"]
    big = os.path.join(tmp, "model.zip")
    with open(big, "wb") as f:
        f.write(b"PK\x03\x04")
        f.truncate(args.size_mib * 1024 * 1024)  # sparse
    log = open(os.path.join(tmp, "escrowd.log"), "w")
    proc = subprocess.Popen([args.escrowd, "serve", "--data", data, "--listen", "127.0.0.1:0",
                             "--max-upload-mib", str(args.size_mib + 16)], stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        host, port = json.loads(proc.stdout.readline())["listening"].split(":")
        time.sleep(0.2)
        before = status_kib(proc.pid, "VmRSS")
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], status_kib(proc.pid, "VmRSS"))
                time.sleep(0.02)
        t = threading.Thread(target=sample)
        t.start()
        boundary = "----bench" + uuid.uuid4().hex
        fields = {"project_id": pid, "name": "Big", "description": "d", "version_tag": "v1",
                  "version_description": "d", "algorithm_type": "validation",
                  "validation_criteria_version": "c1", "data_attestation_version": "a1"}
        head = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
                        for k, v in fields.items())
        head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file_name\"; filename=\"model.zip\"\r\n"
                 "Content-Type: application/zip\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = os.path.getsize(big)
        token = A.make_jwt(A.load_key("kek3072.key.pem"), A.claims(pid, "ao@x.test", exp_delta=3000))
        c = http.client.HTTPConnection(host, int(port), timeout=600)
        start = time.time()
        c.putrequest("POST", "/api/v1/algorithm/")
        c.putheader("Authorization", "Bearer " + token)
        c.putheader("Content-Type", "multipart/form-data; boundary=" + boundary)
        c.putheader("Content-Length", str(len(head) + size + len(tail)))
        c.endheaders()
        c.send(head)
        with open(big, "rb") as f:
            while True:
                b = f.read(1024 * 1024)
                if not b:
                    break
                c.send(b)
        c.send(tail)
        r = c.getresponse()
        body = r.read()
        secs = time.time() - start
        done.set()
        t.join()
        hwm = status_kib(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    print(f"upload of {args.size_mib} MiB: HTTP {r.status} {body[:120].decode(errors='replace')}")
    print(f"escrowd RSS before: {before / 1024:.1f} MiB; peak during the upload: {peak[0] / 1024:.1f} MiB "
          f"(VmHWM {hwm / 1024:.1f} MiB); growth {(peak[0] - before) / 1024:.1f} MiB")
    print(f"throughput: {args.size_mib / secs:.0f} MiB/s over loopback (received, hashed, written, fsync'd)")
    print(f"reproduce: python3 bench/bench_upload_rss.py --escrowd {args.escrowd} --size-mib {args.size_mib}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
