#!/usr/bin/env python3
"""Runs benchmark (issue 7): escrowd on SQLite with its runner threads and the sandbox backend
(a SIMULATED TEE), the sample validation algorithm (examples/algorithm) on the sample dataset.

  1. latency: the DS's initiate-run call -> the algorithm's first Enclave API call (its first
     progress line, stamped by the enclave in ms), over --latency-runs runs one after another;
  2. throughput: --concurrent runs initiated at once across as many configurations, escrowd
     with --runners N (default 2, the machine's two cores): runs per minute.

  python3 bench/bench_runs.py --build build [--latency-runs 5] [--concurrent 8] [--runners 2]

Prints the figures and the command. Traffic to 127.0.0.1 only. Uses server/tests helpers."""
import argparse, datetime, json, os, shutil, statistics, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--build", default=os.path.join(ROOT, "build"))
ap.add_argument("--latency-runs", type=int, default=5)
ap.add_argument("--concurrent", type=int, default=8)
ap.add_argument("--runners", type=int, default=2)
args = ap.parse_args()
os.environ.setdefault("ESCROWD_BIN", os.path.join(args.build, "server", "escrowd"))
os.environ.setdefault("ESCROW_BIN", os.path.join(args.build, "tools", "escrow", "escrow"))
os.environ.setdefault("ESCROW_TEST_VECTORS", os.path.join(ROOT, "tests", "vectors"))
tmp = tempfile.mkdtemp(prefix="bench-runs-")
os.chmod(tmp, 0o711)
os.environ["ESCROWD_TMP"] = tmp
sys.path.insert(0, os.path.join(ROOT, "server", "tests"))
import api_test as T  # noqa: E402
import runs_test as R  # noqa: E402

call = R.call


def ms(iso):
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def main():
    pid = T.fresh_two_party_project("bench_runs", "Bench")
    work = os.path.join(T.TMP, "work")
    os.makedirs(work)
    os.chmod(T.TMP, 0o711)
    proc, log = R.start(T.DATA, "--allow-simulated-tee", "--runners", str(args.runners))
    try:
        AO = T.make_jwt(T.load_key("kek3072.key.pem"), T.claims(pid, "ao@x.test", exp_delta=3000))
        DS = T.make_jwt(T.load_key("kek4096.key.pem"), T.claims(pid, "ds@x.test", exp_delta=3000))
        P = {"project_id": pid}
        ao_cek = R.party_keys(AO, pid, "ao", work)
        ds_cek = R.party_keys(DS, pid, "ds", work)
        crit = open(os.path.join(R.EXAMPLES, "algorithm", "schema.json"), "rb").read()
        call("POST", "/api/v1/validation-criteria/", AO, fields=dict(P, name="c", version_tag="c1"),
             files={"file_name": ("schema.json", crit)})
        call("POST", "/api/v1/data-specification/", AO, fields=dict(P, name="s", version_tag="s1"),
             files={"file_name": ("s.pdf", R.PDF)})
        call("POST", "/api/v1/data-attestation/", DS, fields=dict(P, name="a", version_tag="a1"),
             files={"file_name": ("a.pdf", R.PDF)})
        call("POST", "/api/v1/validation-criteria-accept/", DS, fields=dict(P, validation_criteria_version="c1"))
        enc = os.path.join(work, "dataset")
        R.escrow("encrypt", "--cek", ds_cek, os.path.join(R.EXAMPLES, "dataset"), "-o", enc)
        os.chmod(work, 0o755)
        call("POST", "/api/v1/dataset/", DS, fields=dict(P, name="d", version_tag="d1", dataset_uri="file://" + enc,
                                                         data_specification_version="s1", data_attestation_version="a1"))
        alg = os.path.join(work, "alg.zip")
        R.escrow("algorithm", "pack", os.path.join(R.EXAMPLES, "algorithm"), "--cek", ao_cek, "--encrypt", "model", "-o", alg)
        n = max(args.concurrent, 1) + 1
        for i in range(n):
            r = call("POST", "/api/v1/algorithm/", AO, fields=dict(
                P, name="alg", version_tag=f"v{i}", algorithm_type="validation", validation_criteria_version="c1",
                data_attestation_version="a1"), files={"file_name": ("alg.zip", open(alg, "rb").read())})
            assert r.status == 201, r.body
        cfgs = []
        for i in range(n):
            r = call("POST", "/api/v1/run-configuration/", AO, fields=dict(P, name=f"c{i}", algorithm_version=f"v{i}",
                                                                        dataset_version="d1"))
            cfgs.append(r.json["id"])

        def run_once(c):
            q = dict(P, run_configuration=c)
            call("POST", "/api/v1/run-request/", AO, fields=dict(q, machine_type="cpu-standard-1"))
            t0 = time.time()
            call("POST", "/api/v1/initiate-run/", DS, fields=q)
            return q, t0

        def wait(q):
            while True:
                r = call("GET", "/api/v1/run-status/", DS, query=q)
                if r.json["status"] != "In Progress":
                    return r.json
                time.sleep(0.05)

        lat = []
        for _ in range(args.latency_runs):
            q, t0 = run_once(cfgs[0])
            st = wait(q)
            assert st["status"] == "Completed", st
            logs = call("GET", "/api/v1/log-download/", DS, query=q).json["logs"]
            first = min(ms(l["time"]) for l in logs if l.get("source") == "algorithm")
            lat.append((first - t0) * 1000)
        t0 = time.time()
        qs = [run_once(c)[0] for c in cfgs[1:]]
        done = [wait(q) for q in qs]
        wall = time.time() - t0
        ok = sum(1 for d in done if d["status"] == "Completed")
    finally:
        R.stop(proc, log)
        shutil.rmtree(tmp, ignore_errors=True)
    cmd = "python3 bench/bench_runs.py --build " + os.path.relpath(args.build, ROOT) + \
          f" --latency-runs {args.latency_runs} --concurrent {args.concurrent} --runners {args.runners}"
    print(json.dumps({
        "initiate_to_first_enclave_api_call_ms": {"median": round(statistics.median(lat), 1),
                                                  "min": round(min(lat), 1), "max": round(max(lat), 1),
                                                  "runs": len(lat)},
        "concurrent_validation_runs": {"runs": len(qs), "completed": ok, "wall_s": round(wall, 2),
                                       "runs_per_minute": round(60 * len(qs) / wall, 1),
                                       "runner_threads": args.runners, "cpus": os.cpu_count()},
        "simulated_tee": True, "command": cmd}, indent=2))
    return 0 if ok == len(qs) else 1


if __name__ == "__main__":
    sys.exit(main())
