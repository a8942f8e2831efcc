#!/usr/bin/env python3
"""Two escrowd processes, each with its own runner threads, share one PostgreSQL database and
one data folder (the vault's master key and the uploads): twelve runs across six run
configurations (two successive runs each) all complete, and each is claimed and launched exactly
once (DESIGN §10: the queue claim is FOR UPDATE SKIP LOCKED). Requests go to either process.
PostgreSQL only (ESCROWD_PG=1; skipped with 77 without a test cluster, see api_test.py).
Env: ESCROWD_BIN, ESCROW_BIN, ESCROW_TEST_VECTORS, ESCROWD_TMP, ESCROWD_PG_CLUSTER."""
import json, os, signal, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_test as T  # noqa: E402
import runs_test as R  # noqa: E402
from api_test import check, expect, make_jwt, claims, load_key  # noqa: E402

call = R.call
ESCROW_EXAMPLES = R.EXAMPLES


def start(name):
    log = open(os.path.join(T.TMP, f"escrowd-{name}.log"), "a")
    proc = subprocess.Popen([T.BIN, "serve", "--data", T.DATA, "--listen", "127.0.0.1:0",
                             "--allow-loopback-http", "--allow-simulated-tee", "--runners", "2",
                             "--runner-name", name] + T.db_args(),
                            stdout=subprocess.PIPE, stderr=log, text=True)
    base = "http://" + json.loads(proc.stdout.readline())["listening"]
    return proc, log, base


def main():
    if os.environ.get("ESCROWD_PG") != "1":
        print("SKIP this test runs on PostgreSQL only (ESCROWD_PG=1)")
        return 77
    pid = T.fresh_two_party_project("runs_two_runners", "Two Runners")
    work = os.path.join(T.TMP, "work")
    os.makedirs(work)
    os.chmod(T.TMP, 0o711)
    a, alog, abase = start("runner-a")
    b, blog, bbase = start("runner-b")
    try:
        scenario(pid, work, abase, bbase)
    finally:
        rcs = [R.stop(a, alog), R.stop(b, blog)]
    check("both servers stop cleanly", rcs == [0, 0], rcs)
    if T.FAILS:
        print(f"{len(T.FAILS)} failed: {T.FAILS}")
        return 1
    print("all passed")
    return 0


def scenario(pid, work, abase, bbase):
    T.BASE = abase
    AO = make_jwt(load_key("kek3072.key.pem"), claims(pid, "ao@x.test"))
    DS = make_jwt(load_key("kek4096.key.pem"), claims(pid, "ds@x.test"))
    P = {"project_id": pid}
    ao_cek = R.party_keys(AO, pid, "ao", work)
    ds_cek = R.party_keys(DS, pid, "ds", work)
    crit = open(os.path.join(ESCROW_EXAMPLES, "algorithm", "schema.json"), "rb").read()
    expect("criteria", call("POST", "/api/v1/validation-criteria/", AO, fields=dict(P, name="c", version_tag="c1"),
                            files={"file_name": ("schema.json", crit)}), 201)
    expect("specification", call("POST", "/api/v1/data-specification/", AO, fields=dict(P, name="s", version_tag="s1"),
                                 files={"file_name": ("s.pdf", R.PDF)}), 201)
    expect("attestation", call("POST", "/api/v1/data-attestation/", DS, fields=dict(P, name="a", version_tag="a1"),
                               files={"file_name": ("a.pdf", R.PDF)}), 201)
    expect("acceptance", call("POST", "/api/v1/validation-criteria-accept/", DS,
                              fields=dict(P, validation_criteria_version="c1")), 201)
    enc = os.path.join(work, "dataset")
    R.escrow("encrypt", "--cek", ds_cek, "--project", pid, "--role", "ds", "--dataset-version", "d",
             os.path.join(ESCROW_EXAMPLES, "dataset"), "-o", enc)
    os.chmod(work, 0o755)
    for d in ("d1", "d2"):
        expect(f"dataset {d}", call("POST", "/api/v1/dataset/", DS, fields=dict(
            P, name="data", version_tag=d, dataset_uri="file://" + enc, data_specification_version="s1",
            data_attestation_version="a1")), 201)
    alg = os.path.join(work, "alg.zip")
    R.escrow("algorithm", "pack", os.path.join(ESCROW_EXAMPLES, "algorithm"), "--cek", ao_cek, "--encrypt",
             "model", "--project", pid, "--role", "ao", "-o", alg)
    for v in ("v1", "v2", "v3"):
        expect(f"algorithm {v}", call("POST", "/api/v1/algorithm/", AO, fields=dict(
            P, name="alg", version_tag=v, algorithm_type="validation", validation_criteria_version="c1",
            data_attestation_version="a1"), files={"file_name": ("alg.zip", open(alg, "rb").read())}), 201)
    configs = []
    for v in ("v1", "v2", "v3"):
        for d in ("d1", "d2"):
            r = expect(f"configuration {v} x {d}", call("POST", "/api/v1/run-configuration/", AO,
                       fields=dict(P, name=f"{v}-{d}", algorithm_version=v, dataset_version=d)), 201)
            configs.append(r.json["id"])
    t0 = time.time()
    for rnd in (1, 2):
        for i, c in enumerate(configs):
            T.BASE = abase if i % 2 else bbase  # requests reach either server
            expect(f"round {rnd}: request {i}", call("POST", "/api/v1/run-request/", AO,
                   fields=dict(P, run_configuration=c, machine_type="cpu-standard-1")), 201)
            expect(f"round {rnd}: initiate {i}", call("POST", "/api/v1/initiate-run/", DS,
                   fields=dict(P, run_configuration=c)), 200)
        deadline = time.time() + 600
        pending = set(configs)
        while pending and time.time() < deadline:
            for c in list(pending):
                r = call("GET", "/api/v1/run-status/", DS, query=dict(P, run_configuration=c))
                if r.json and r.json["status"] not in ("In Progress",):
                    pending.discard(c)
                    check(f"round {rnd}: run of {c[:8]} completes", r.json["status"] == "Completed" and
                          r.json["run_number"] == rnd, r.body[:300])
            time.sleep(0.2)
        check(f"round {rnd}: no run left in progress", not pending, pending)
    elapsed = time.time() - t0
    rows = R.sql("SELECT r.id, r.runner, r.status, (SELECT COUNT(*) FROM run_log l WHERE l.run_id = r.id AND "
                 "l.line LIKE '%launching escrow-enclave%'), (SELECT COUNT(*) FROM run_log l WHERE "
                 "l.run_id = r.id AND l.line LIKE '%claimed by a runner%') FROM run r JOIN run_configuration c "
                 f"ON c.id = r.config_id WHERE c.project_id = '{pid}'")
    check("twelve runs", len(rows) == 12, rows)
    check("each run completed", all(r[2] == "Completed" for r in rows), rows)
    check("each run was claimed and launched exactly once", all(r[3] == "1" and r[4] == "1" for r in rows), rows)
    by = {}
    for r in rows:
        by[r[1]] = by.get(r[1], 0) + 1
    check("the runs were shared by the two runners", set(by) <= {"runner-a", "runner-b"} and len(by) == 2, by)
    print(f"     (12 runs in {elapsed:.1f} s on two escrowd processes x 2 runner threads; per runner {by})")


if __name__ == "__main__":
    sys.exit(main())
