"""bench/bench_enclave.sh's probe, run inside escrow-enclave's sandbox.

MODE=download: GET /api/v1/data/file?filepath=$FILE, read in 1 MiB pieces, SHA-256 it; reports
the seconds, the bytes and the digest. MODE=listing: GET /api/v1/data/files $REPEAT times;
reports every duration in ms and the number of files. MODE=cpu: four busy processes for
$SECONDS seconds; reports their CPU time and the wall time. The figures leave as the report
(the bench passes no criteria).
"""
import hashlib
import json
import os
import time
import urllib.request

URL = os.environ["ENCLAVE_URL"].rstrip("/")
MODE = os.environ.get("MODE", "download")
out = {}
if MODE == "download":
    h = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    with urllib.request.urlopen(URL + "/api/v1/data/file?filepath=" + os.environ["FILE"], timeout=600) as r:
        while True:
            b = r.read(1 << 20)
            if not b:
                break
            n += len(b)
            h.update(b)
    out = {"seconds": time.monotonic() - t0, "bytes": n, "sha256": h.hexdigest()}
elif MODE == "read":  # the same bytes without a digest: the transport alone
    n = 0
    t0 = time.monotonic()
    with urllib.request.urlopen(URL + "/api/v1/data/file?filepath=" + os.environ["FILE"], timeout=600) as r:
        while True:
            b = r.read(1 << 20)
            if not b:
                break
            n += len(b)
    out = {"seconds": time.monotonic() - t0, "bytes": n}
elif MODE == "listing":
    ms = []
    files = 0
    for _ in range(int(os.environ.get("REPEAT", "50"))):
        t0 = time.monotonic()
        with urllib.request.urlopen(URL + "/api/v1/data/files", timeout=600) as r:
            d = json.loads(r.read())
        ms.append((time.monotonic() - t0) * 1000)
        files = d["totalFiles"]
    out = {"ms": ms, "files": files}
elif MODE == "cpu":  # 4 busy processes for SECONDS: CPU time used per wall second
    import resource
    import subprocess
    secs = float(os.environ.get("SECONDS", "3"))
    busy = "import time\nt = time.monotonic() + %f\nwhile time.monotonic() < t: pass\n" % secs
    t0 = time.monotonic()
    procs = [subprocess.Popen(["python3", "-c", busy]) for _ in range(4)]
    for p in procs:
        p.wait()
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime}
req = urllib.request.Request(URL + "/api/v1/report", method="POST",
                             data=json.dumps({"name": "bench", "status": "Completed",
                                              "json_data": {"bench": out}}).encode(),
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=60).read()
