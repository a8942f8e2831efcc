#!/usr/bin/env python3
"""escrowd runs test (DESIGN §9, manual §13.9-§14.10): run configurations, run requests, the data
steward's review, the rules and refusals, a real run through escrow-enclave's sandbox (a
SIMULATED TEE) on the sample algorithm and an encrypted dataset folder, the results and who sees
them, 1:many with two data stewards, notifications, chat, and a restart mid-run.
Traffic goes to 127.0.0.1 only. Env: ESCROWD_BIN, ESCROW_BIN, ESCROW_TEST_VECTORS, ESCROWD_TMP."""
import base64, datetime, json, os, shutil, signal, sqlite3, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_test as T  # noqa: E402  (the shared HTTP/JWT helpers)

from api_test import check, expect, make_jwt, claims, load_key  # noqa: E402

BODIES = []


def call(*a, **k):
    """api_test.call, keeping every answer: no endpoint may ever return a private key."""
    r = T.call(*a, **k)
    BODIES.append(r.body)
    return r

ESCROW = os.environ["ESCROW_BIN"]
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def escrow(*args):
    p = subprocess.run([ESCROW] + list(args), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"escrow {' '.join(args)}: {p.stderr}")
    return p.stdout


def start(data, *extra):
    log = open(os.path.join(T.TMP, "escrowd.log"), "a")
    proc = subprocess.Popen([T.BIN, "serve", "--data", data, "--listen", "127.0.0.1:0",
                             "--allow-loopback-http"] + T.db_args() + list(extra),
                            stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline()
    T.BASE = "http://" + json.loads(line)["listening"]
    return proc, log


def stop(proc, log, sig=signal.SIGTERM):
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = -9
    log.close()
    return rc


def tokens(pid, users):
    return {email: make_jwt(key, claims(pid, email)) for email, key in users.items()}


def wait_status(tok, q, want, timeout=240):
    deadline = time.time() + timeout
    r = None
    while time.time() < deadline:
        r = call("GET", "/api/v1/run-status/", tok, query=q)
        if r.json and r.json.get("status") in want:
            return r
        time.sleep(0.2)
    return r


def party_keys(tok, pid, role, work):
    """Download the party's KEK, make a CEK, wrap it, upload the WCEK; return the CEK path."""
    r = call("GET", "/api/v1/key-encryption-key-download/", tok, query={"project_id": pid})
    kek = os.path.join(work, role + "-kek.pem")
    with open(kek, "w") as f:
        f.write(r.json["key content"])
    cek = os.path.join(work, role + "-cek.key")
    escrow("cek", "generate", "-o", cek)
    wcek = os.path.join(work, role + "-wcek.key.bkenc")
    escrow("wcek", "wrap", "--kek", kek, "--cek", cek, "-o", wcek)
    with open(wcek, "rb") as f:
        data = f.read()
    r = call("POST", "/api/v1/wrapped-content-encryption-key/", tok,
             fields={"project_id": pid, "name": role + " WCEK", "version_tag": "w1"},
             files={"file_name": ("wcek.key.bkenc", data)})
    check(f"{role} uploads its WCEK", r.status == 201, r.body[:200])
    return cek


def main():
    T.fresh_two_party_project("runs_test", "Runs Project")
    # a second data steward for 1:many
    keys = os.path.join(T.VEC, "keys")
    T.admin("create-org", "--name", "DS2")
    T.admin("create-user", "--org", "DS2", "--email", "ds2@x.test", "--public-key",
            os.path.join(keys, "kek4096.pub.pem"))
    T.admin("create-org", "--name", "Outsider")
    T.admin("create-user", "--org", "Outsider", "--email", "out@x.test", "--public-key",
            os.path.join(keys, "kek4096.pub.pem"))
    rc, out, err = T.admin("create-project", "--name", "Multi Site", "--ao-org", "AO", "--ds-org", "DS", "DS2",
                           "--kek-bits", "3072", "--ao-user", "ao@x.test", "--ds-user", "ds@x.test", "ds2@x.test")
    check("a 1:many project (two data stewards)", rc == 0, err)
    pid = json.loads(out)["id"]
    ao_key, ds_key = load_key("kek3072.key.pem"), load_key("kek4096.key.pem")
    work = os.path.join(T.TMP, "work")
    os.makedirs(work)
    os.chmod(T.TMP, 0o711)
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072", "-out",
                    os.path.join(work, "other-issuer.pem")], check=True, capture_output=True)
    smtp = smtp_sink()
    proc, log = start(T.DATA, "--allow-simulated-tee", "--runners", "2", "--smtp-url",
                      f"smtp://127.0.0.1:{smtp}", "--smtp-from", "escrowd@platform.test")
    try:
        scenario(pid, ao_key, ds_key, work)
        proc2 = restart_scenario(proc, log, pid, ao_key, ds_key, work)
        proc, log = proc2
    finally:
        rc = stop(proc, log)
    check("escrowd stops cleanly on SIGTERM with its runners", rc == 0, rc)
    with open(os.path.join(T.TMP, "escrowd.log"), "rb") as f:
        text = f.read()
    check("the log holds no key material or token", b"PRIVATE KEY" not in text and b"eyJ" not in text)
    if T.FAILS:
        print(f"{len(T.FAILS)} failed: {T.FAILS}")
        return 1
    print("all passed")
    return 0


STATE = {}
MAILS = []


def smtp_sink():
    """A minimal SMTP server on 127.0.0.1 (one thread) that keeps every message in MAILS."""
    import socket, threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            f = conn.makefile("rb")
            conn.sendall(b"220 sink ESMTP\r\n")
            rcpt, data = [], None
            for line in f:
                if data is not None:
                    if line in (b".\r\n", b".\n"):
                        MAILS.append({"rcpt": rcpt, "data": b"".join(data).decode(errors="replace")})
                        rcpt, data = [], None
                        conn.sendall(b"250 ok\r\n")
                    else:
                        data.append(line)
                    continue
                cmd = line.strip().upper()
                if cmd.startswith(b"EHLO") or cmd.startswith(b"HELO"):
                    conn.sendall(b"250 sink\r\n")
                elif cmd.startswith(b"RCPT"):
                    rcpt.append(line.decode().split(":", 1)[1].strip())
                    conn.sendall(b"250 ok\r\n")
                elif cmd == b"DATA":
                    data = []
                    conn.sendall(b"354 go\r\n")
                elif cmd == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    break
                else:
                    conn.sendall(b"250 ok\r\n")
            conn.close()
    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


def scenario(pid, ao_key, ds_key, work):
    AO = make_jwt(ao_key, claims(pid, "ao@x.test"))
    DS = make_jwt(ds_key, claims(pid, "ds@x.test"))
    DS2 = make_jwt(ds_key, claims(pid, "ds2@x.test"))
    OUT = make_jwt(ds_key, claims(pid, "out@x.test"))
    STATE.update(AO=AO, DS=DS, DS2=DS2)
    P = {"project_id": pid}
    ao_cek = party_keys(AO, pid, "ao", work)
    ds_cek = party_keys(DS, pid, "ds", work)
    ds2_cek = party_keys(DS2, pid, "ds2", work)
    crit = open(os.path.join(EXAMPLES, "algorithm", "schema.json"), "rb").read()
    expect("AO uploads the validation criteria", call("POST", "/api/v1/validation-criteria/", AO,
           fields=dict(P, name="criteria", version_tag="c1"), files={"file_name": ("schema.json", crit)}), 201)
    expect("AO uploads the data specification", call("POST", "/api/v1/data-specification/", AO,
           fields=dict(P, name="spec", version_tag="s1"), files={"file_name": ("spec.pdf", PDF)}), 201)
    for tok, who in ((DS, "ds"), (DS2, "ds2")):
        expect(f"{who} uploads its data attestation", call("POST", "/api/v1/data-attestation/", tok,
               fields=dict(P, name="attestation", version_tag="a1"), files={"file_name": ("att.pdf", PDF)}), 201)
    # datasets: encrypted folders reached by file:// (the embedded default, --allow-loopback-http)
    urls = {}
    for who, cek in (("ds", ds_cek), ("ds2", ds2_cek)):
        out = os.path.join(work, who + "-dataset")
        escrow("encrypt", "--cek", cek, "--project", pid, "--role", "ds", "--dataset-version", "d1",
               os.path.join(EXAMPLES, "dataset"), "-o", out)
        os.chmod(work, 0o755)
        urls[who] = "file://" + out
    expect("DS adds its dataset on a local folder", call("POST", "/api/v1/dataset/", DS, fields=dict(
        P, name="hospital data", version_tag="d1", dataset_uri=urls["ds"], data_specification_version="s1",
        data_attestation_version="a1")), 201)
    expect("DS2 adds its dataset (same tag, another party)", call("POST", "/api/v1/dataset/", DS2, fields=dict(
        P, name="clinic data", version_tag="d1", dataset_uri=urls["ds2"], data_specification_version="s1",
        data_attestation_version="a1")), 201)
    # a dataset whose SAS expires within 24 h cannot be configured (expiry recorded at upload)
    se = (datetime.datetime.now(tz=datetime.timezone.utc) + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE%3D"
    sas = f"https://acct.blob.core.windows.net/data?sv=2022-11-02&sr=c&sp=rl&spr=https&se={se}&sig={sig}"
    r = expect("DS adds a dataset on a SAS URL", call("POST", "/api/v1/dataset/", DS, fields=dict(
        P, name="blob data", version_tag="d-sas", dataset_uri=sas, data_specification_version="s1",
        data_attestation_version="a1")), 201)
    sas_id = r.json["id"]
    # algorithm
    alg = os.path.join(work, "alg.zip")
    escrow("algorithm", "pack", os.path.join(EXAMPLES, "algorithm"), "--cek", ao_cek, "--encrypt", "model",
           "--project", pid, "--role", "ao", "-o", alg)
    ameta = dict(P, name="risk model", version_tag="v1", algorithm_type="validation",
                 validation_criteria_version="c1", data_attestation_version="a1", upload_type="Upload Zip",
                 upload_file_name="alg.zip")
    expect("AO uploads the algorithm", call("POST", "/api/v1/algorithm/", AO, fields=ameta,
           files={"file_name": ("alg.zip", open(alg, "rb").read())}), 201)
    expect("AO uploads algorithm v2", call("POST", "/api/v1/algorithm/", AO, fields=dict(ameta, version_tag="v2"),
           files={"file_name": ("alg.zip", open(alg, "rb").read())}), 201)
    # a slow algorithm (it waits in the sandbox) for cancellation and the restart test
    slow = os.path.join(work, "slow")
    os.makedirs(slow)
    with open(os.path.join(slow, "Dockerfile"), "w") as f:
        f.write('FROM python:3.11-slim\nWORKDIR /app\nCOPY . /app\nENTRYPOINT ["/bin/sh", "run.sh"]\n')
    with open(os.path.join(slow, "run.sh"), "w") as f:
        f.write("#!/bin/sh\nsleep 120\n")
    with open(os.path.join(slow, "secret.txt"), "w") as f:
        f.write("the AO's secret\n")
    slow_zip = os.path.join(work, "slow.zip")
    escrow("algorithm", "pack", slow, "--cek", ao_cek, "--encrypt", "secret.txt", "--project", pid, "--role", "ao",
           "-o", slow_zip)
    expect("AO uploads a slow algorithm (v-slow)", call("POST", "/api/v1/algorithm/", AO, fields=dict(
        ameta, version_tag="v-slow"), files={"file_name": ("slow.zip", open(slow_zip, "rb").read())}), 201)
    ds1_id = dataset_id(DS, "d1")
    ds2_id = dataset_id(DS2, "d1")

    # --- run configurations -------------------------------------------------------------------------
    cfg = "/api/v1/run-configuration/"
    cm = dict(P, name="site 1", algorithm_version="v1")
    expect("a DS may not create a run configuration", call("POST", cfg, DS, fields=dict(cm, dataset_version=ds1_id)), 403)
    expect("an outsider is refused", call("POST", cfg, OUT, fields=dict(cm, dataset_version=ds1_id)), 403)
    expect("an ambiguous dataset tag (two stewards) asks for the id",
           call("POST", cfg, AO, fields=dict(cm, dataset_version="d1")), 409, "id")
    expect("an unknown algorithm version is 404", call("POST", cfg, AO, fields=dict(cm, algorithm_version="nope",
           dataset_version=ds1_id)), 404)
    expect("a run configuration needs a name", call("POST", cfg, AO, fields=dict(cm, name="", dataset_version=ds1_id)), 400)
    r = expect("AO creates a run configuration (Pending)", call("POST", cfg, AO, fields=dict(cm, dataset_version=ds1_id)), 201)
    check("a new configuration is Pending and says the TEE is simulated",
          r.json and r.json["status"] == "Pending" and r.json["simulated_tee"] is True, r.body[:300])
    c1 = r.json["id"]
    expect("the same algorithm and dataset versions cannot be configured twice",
           call("POST", cfg, AO, fields=dict(cm, name="again", dataset_version=ds1_id)), 409, "exists already")
    r = expect("site 2 with the same algorithm version", call("POST", cfg, AO, fields=dict(cm, name="site 2",
               dataset_version=ds2_id)), 201)
    c2 = r.json["id"]
    r = expect("algorithm v2 on site 1 is another configuration", call("POST", cfg, AO, fields=dict(
        cm, name="v2 site 1", algorithm_version="v2", dataset_version=ds1_id)), 201)
    c3 = r.json["id"]
    r = expect("a dataset with a valid SAS (3 days) can be configured", call("POST", cfg, AO, fields=dict(
        cm, name="sas", dataset_version=sas_id)), 201)
    c_sas = r.json["id"]
    # the SAS expiry approaches: simulate the passage of time in the record
    for delta, name in ((datetime.timedelta(hours=5), "expiring"), (datetime.timedelta(hours=-1), "expired")):
        when = (datetime.datetime.now(tz=datetime.timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")
        set_sas_expiry(sas_id, when)
        expect(f"a run configuration on a dataset whose SAS is {name} is refused",
               call("POST", cfg, AO, fields=dict(cm, name="sas " + name, algorithm_version="v2", dataset_version=sas_id)),
               422, name)
        expect(f"a run request on a dataset whose SAS is {name} is refused",
               call("POST", "/api/v1/run-request/", AO, fields=dict(P, run_configuration=c_sas,
                                                                      machine_type="cpu-standard-1")), 422, name)
    r = expect("the DS lists only the configurations on its datasets", call("GET", cfg, DS, query=P), 200)
    check("DS sees site 1 configurations, not site 2",
          r.json and {c["id"] for c in r.json["run_configurations"]} == {c1, c3, c_sas}, r.body[:300])
    r = expect("the AO lists all configurations", call("GET", cfg, AO, query=P), 200)
    check("AO sees all four", r.json and len(r.json["run_configurations"]) == 4)

    # --- run requests -------------------------------------------------------------------------------
    req = "/api/v1/run-request/"
    q1 = dict(P, algorithm_version="v1", dataset_version=ds1_id)
    expect("the DS may not request a run", call("POST", req, DS, fields=dict(q1, machine_type="cpu-standard-1")), 403)
    expect("machine_type must be cpu-standard-<n>", call("POST", req, AO, fields=dict(q1, machine_type="gpu-large")), 400)
    expect("a vCPU count the TEE does not offer is refused", call("POST", req, AO, fields=dict(q1, machine_type="cpu-standard-3")), 400)
    expect("a machine type is required", call("POST", req, AO, fields=q1), 400)
    expect("a runtime parameter name must match the manual's regex",
           call("POST", req, AO, fields=dict(q1, machine_type="cpu-standard-1", runtime_parameters='{"1bad":"x"}')), 400, "regex")
    expect("a name with a trailing separator is refused",
           call("POST", req, AO, fields=dict(q1, machine_type="cpu-standard-1", runtime_parameters='{"a_":"x"}')), 400)
    expect("a name the runtime sets is refused",
           call("POST", req, AO, fields=dict(q1, machine_type="cpu-standard-1", runtime_parameters='{"ESCROW_RUN_ID":"x"}')), 400)
    expect("runtime_parameters must be a JSON object",
           call("POST", req, AO, fields=dict(q1, machine_type="cpu-standard-1", runtime_parameters='[1]')), 400)
    deep = '{"a":' + "[" * 150000 + "]" * 150000 + "}"
    expect("runtime_parameters nested 150,000 deep is refused, and the server lives on",
           call("POST", req, AO, fields=dict(q1, machine_type="cpu-standard-1", runtime_parameters=deep)),
           400, "nested too deep")
    r = expect("the AO requests a run (the sample's machine_type)", call("POST", req, AO, fields=dict(
        q1, machine_type="cpu-standard-1", runtime_parameters='{"learning_rate":"0.01","model.depth-2":"3"}')), 201)
    check("the run is Run Requested with number 1, 1 vCPU and 4 GiB",
          r.json and r.json["status"] == "Run Requested" and r.json["run_number"] == 1 and
          r.json["vcpus"] == 1 and r.json["memory_gib"] == 4 and
          r.json["runtime_parameters"] == {"learning_rate": "0.01", "model.depth-2": "3"}, r.body[:400])
    expect("a second request while one is active is refused", call("POST", req, AO, fields=dict(
        q1, machine_type="cpu-standard-1")), 409, "one run at a time")
    r = expect("the DS is notified of the request", call("GET", "/api/v1/notifications/", DS, query=P), 200)
    check("a run_requested notification, unread", r.json and r.json["unread"] >= 1 and
          r.json["notifications"][0]["kind"] == "run_requested", r.body[:300])
    r = call("GET", "/api/v1/notifications/", DS2, query=P)
    check("the other data steward is not notified", r.json and r.json["unread"] == 0, r.body[:300])
    check("the DS is e-mailed the run request (SMTP), the other data steward is not",
          any(m["rcpt"] == ["<ds@x.test>"] and "Subject: [escrow] Run requested" in m["data"] for m in MAILS) and
          not any("<ds2@x.test>" in m["rcpt"] for m in MAILS), MAILS)

    # --- review ---------------------------------------------------------------------------------------
    expect("the other data steward cannot see or initiate site 1's run",
           call("GET", "/api/v1/initiate-run/", DS2, query=q1), 404)
    expect("the AO may not initiate without the project's permission",
           call("GET", "/api/v1/initiate-run/", AO, query=q1), 403, "permission")
    expect("initiating needs the DS's acceptance of the criteria",
           call("GET", "/api/v1/initiate-run/", DS, query=q1), 409, "accepted")
    expect("DS accepts the criteria", call("POST", "/api/v1/validation-criteria-accept/", DS,
           fields=dict(P, validation_criteria_version="c1")), 201)
    expect("DS2 accepts the criteria", call("POST", "/api/v1/validation-criteria-accept/", DS2,
           fields=dict(P, validation_criteria_version="c1")), 201)
    # reject needs a reason; the AO is notified
    q3 = dict(P, run_configuration=c3)
    expect("request on v2 site 1", call("POST", req, AO, fields=dict(q3, machine_type="cpu-standard-2")), 201)
    expect("a rejection needs a reason", call("POST", "/api/v1/run-reject/", DS, fields=q3), 400, "reason")
    expect("the AO cannot reject", call("POST", "/api/v1/run-reject/", AO, fields=dict(q3, reason="x")), 403)
    r = expect("the DS rejects with a reason", call("POST", "/api/v1/run-reject/", DS,
               fields=dict(q3, reason="not the cohort we agreed")), 200)
    check("the run is Rejected with the reason", r.json and r.json["status"] == "Rejected" and
          r.json["reason"] == "not the cohort we agreed", r.body[:300])
    expect("a rejected run cannot be initiated", call("POST", "/api/v1/initiate-run/", DS, fields=q3), 409)
    r = expect("the AO is notified of the rejection", call("GET", "/api/v1/notifications/", AO,
               query=dict(P, mark_read="true")), 200)
    check("a run_rejected notification with the reason", r.json and any(
        n["kind"] == "run_rejected" and "not the cohort" in n["message"] and not n["read"]
        for n in r.json["notifications"]), r.body[:400])
    r = call("GET", "/api/v1/notifications/", AO, query=P)
    check("marked read, nothing unread", r.json and r.json["unread"] == 0, r.body[:200])
    check("the AO is e-mailed the rejection with its reason",
          any(m["rcpt"] == ["<ao@x.test>"] and "not the cohort we agreed" in m["data"] for m in MAILS), MAILS)
    # cancel a request (DS)
    expect("request again on v2 site 1 (after a rejection)", call("POST", req, AO, fields=dict(q3, machine_type="cpu-standard-1")), 201)
    expect("the AO cannot cancel", call("POST", "/api/v1/run-cancel/", AO, fields=q3), 403)
    r = expect("the DS cancels the request", call("POST", "/api/v1/run-cancel/", DS, fields=q3), 200)
    check("the run is Cancelled, number 2", r.json and r.json["status"] == "Cancelled" and r.json["run_number"] == 2, r.body[:200])
    expect("a cancelled run cannot be cancelled again", call("POST", "/api/v1/run-cancel/", DS, fields=q3), 409)

    # --- the run -----------------------------------------------------------------------------------------
    t0 = time.time()
    r = expect("the DS initiates the run (the sample's GET)", call("GET", "/api/v1/initiate-run/", DS, query=q1), 200)
    # the answer is read after the runner is woken, which may already have moved the run on
    check("In Progress at stage Run Initiated (or a runner's later stage)",
          r.json and r.json["status"] == "In Progress" and
          r.json["stage"] in ("Run Initiated", "Runtime Build", "Workload Launch", "Run"), r.body[:300])
    expect("a running run cannot be initiated again", call("GET", "/api/v1/initiate-run/", DS, query=q1), 409)
    expect("a request while the run is in progress is refused", call("POST", req, AO, fields=dict(
        q1, machine_type="cpu-standard-1")), 409)
    # site 2 concurrently
    q2 = dict(P, run_configuration=c2)
    expect("site 2 request", call("POST", req, AO, fields=dict(q2, machine_type="cpu-standard-1")), 201)
    expect("site 2's DS initiates its own run", call("POST", "/api/v1/initiate-run/", DS2, fields=q2), 200)
    stages = set()
    deadline = time.time() + 240
    r = None
    while time.time() < deadline:
        r = call("GET", "/api/v1/run-status/", DS, query=q1)
        if r.json:
            stages.add(r.json.get("stage"))
            if r.json["status"] not in ("In Progress",):
                break
        time.sleep(0.1)
    check("the run completes", r.json and r.json["status"] == "Completed", r.body[:600])
    print(f"     (run 1 took {time.time() - t0:.1f} s)")
    check("the stages were seen as they happened", {"Runtime Build", "Run"} <= stages, stages)
    check("run-status says simulated_tee and carries the certificate", r.json["simulated_tee"] is True and
          r.json["certificate"] and r.json["certificate"]["simulated_tee"] is True, r.body[:400])
    r2 = wait_status(DS2, q2, ("Completed", "Failed"))
    check("site 2's run completes too", r2.json and r2.json["status"] == "Completed", r2.body[:600])
    # results
    r = expect("the AO downloads the report (the sample's report-download)",
               call("GET", "/api/v1/report-download/", AO, query=dict(q1, run_number="1")), 200)
    rep = json.loads(r.json["report content"]) if r.json else {}
    check("the report is the one that passed the criteria", rep.get("status") == "Completed" and
          rep["json_data"]["report"]["model"] == "demo-logistic-v1" and rep["json_data"]["report"]["patients"] > 0,
          r.body[:400])
    check("the JSON file name is <project name><id>.json", r.json["file_name"].startswith("Multi_Site") and
          r.json["file_name"].endswith(".json"), r.json.get("file_name"))
    r = expect("the report as CSV", call("GET", "/api/v1/report-download/", AO, query=dict(q1, format="csv")), 200)
    lines = r.json["report content"].splitlines() if r.json else []
    check("CSV: a header of dotted paths and one row", len(lines) == 2 and "report.patients" in lines[0] and
          r.json["file_name"].endswith(".csv"), r.body[:300])
    expect("the DS does not see the report (AO only)", call("GET", "/api/v1/report-download/", DS, query=q1), 403)
    expect("nor the model", call("GET", "/api/v1/model-download/", DS, query=q1), 403)
    expect("a validation run has no model", call("GET", "/api/v1/model-download/", AO, query=q1), 404)
    for tok, who in ((AO, "AO"), (DS, "DS")):
        r = expect(f"the {who} reads the run's logs", call("GET", "/api/v1/log-download/", tok, query=q1), 200)
        lg = r.json["logs"] if r.json else []
        check(f"{who}: platform stages and the algorithm's progress lines, all simulated",
              any(l.get("stage") == "Workload Launch" for l in lg) and
              any(l.get("source") == "algorithm" for l in lg) and all(l.get("simulated_tee") for l in lg), r.body[:300])
    r = expect("the AO sees the per-site reports side by side",
               call("GET", "/api/v1/report-download/", AO, query=dict(P, algorithm_version="v1")), 200)
    sites = r.json["sites"] if r.json else []
    check("both sites that ran show their report", sum(1 for s in sites if s["report"]) == 2 and
          {s["data_steward"] for s in sites if s["report"]} == {"DS", "DS2"}, r.body[:300])
    expect("the DS has no per-site view", call("GET", "/api/v1/report-download/", DS, query=dict(P, algorithm_version="v1")), 403)
    # a new request on a completed configuration is run number 2
    r = expect("a completed configuration takes a new request", call("POST", req, AO, fields=dict(
        q1, machine_type="cpu-standard-1")), 201)
    check("run number 2", r.json and r.json["run_number"] == 2)
    expect("initiate run 2", call("POST", "/api/v1/initiate-run/", DS, fields=q1), 200)
    r = wait_status(DS, q1, ("Completed", "Failed"))
    check("run 2 completes", r.json and r.json["status"] == "Completed" and r.json["run_number"] == 2, r.body[:300])
    # the DS cancels a running run (the slow algorithm)
    r = expect("configure the slow algorithm on site 1", call("POST", cfg, AO, fields=dict(
        cm, name="slow", algorithm_version="v-slow", dataset_version=ds1_id)), 201)
    qs = dict(P, run_configuration=r.json["id"])
    expect("request the slow run", call("POST", req, AO, fields=dict(qs, machine_type="cpu-standard-1")), 201)
    expect("initiate the slow run", call("POST", "/api/v1/initiate-run/", DS, fields=qs), 200)
    r = wait_status(DS, qs, ("Failed", "Completed"), timeout=0)
    deadline = time.time() + 60
    while time.time() < deadline:
        r = call("GET", "/api/v1/run-status/", DS, query=qs)
        if r.json and (r.json.get("stage") == "Run" or r.json["status"] != "In Progress"):
            break
        time.sleep(0.05)
    check("the slow run reaches the Run stage", r.json and r.json["stage"] == "Run" and
          r.json["status"] == "In Progress", r.body[:300])
    r = expect("the DS cancels the run in progress", call("POST", "/api/v1/run-cancel/", DS, fields=qs), 200)
    check("the cancellation is recorded", r.json and r.json["cancel_requested"] is True, r.body[:300])
    t1 = time.time()
    r = wait_status(DS, qs, ("Cancelled", "Completed", "Failed"))
    check("the run ends Cancelled, well before the algorithm's 120 s", r.json and r.json["status"] == "Cancelled"
          and time.time() - t1 < 60, r.body[:300])
    STATE["qs"] = qs
    # AO-initiate permission of the API sample
    rc, out, err = T.admin("run-permissions", "--project", pid, "--ao-may-initiate", "yes")
    check("the operator gives the AO permission to initiate", rc == 0 and json.loads(out)["ao_may_initiate"] is True, err)
    expect("request 3", call("POST", req, AO, fields=dict(q1, machine_type="cpu-standard-1")), 201)
    expect("the AO initiates with the permission", call("GET", "/api/v1/initiate-run/", AO, query=q1), 200)
    r = wait_status(AO, q1, ("Completed", "Failed"))
    check("run 3 completes", r.json and r.json["status"] == "Completed" and r.json["run_number"] == 3, r.body[:300])
    # chat
    expect("the AO posts in the project chat", call("POST", "/api/v1/chat/", AO, fields=dict(P, message="results look good")), 201)
    expect("an empty message is refused", call("POST", "/api/v1/chat/", AO, fields=dict(P, message="")), 400)
    r = expect("the DS reads the chat", call("GET", "/api/v1/chat/", DS, query=P), 200)
    check("one unread message from the AO", r.json and r.json["unread"] == 1 and
          r.json["messages"][0]["from"] == "ao@x.test", r.body[:300])
    r = call("GET", "/api/v1/chat/", DS, query=P)
    check("read once, no longer unread", r.json and r.json["unread"] == 0, r.body[:200])
    r = call("GET", "/api/v1/chat/", AO, query=P)
    check("the author's own message is not unread", r.json and r.json["unread"] == 0, r.body[:200])
    expect("an outsider cannot read the chat", call("GET", "/api/v1/chat/", OUT, query=P), 403)
    STATE["q3"] = q3
    STATE["pid"] = pid


def sql(query):
    """One SQL statement on the test's database (sqlite3 or psql); rows as lists of text."""
    if T.DATABASE:
        out = T.psql(T.DATABASE, query).strip()
        return [line.split("|") for line in out.splitlines()] if out else []
    con = sqlite3.connect(os.path.join(T.DATA, "escrowd.db"))
    rows = [[str(c) for c in row] for row in con.execute(query).fetchall()]
    con.commit()
    con.close()
    return rows


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def issuer_url(data):
    """The sim issuer's URL: escrowd names it after its key's RFC 7638 thumbprint."""
    from cryptography.hazmat.primitives import serialization as S
    k = S.load_pem_private_key(open(os.path.join(data, "attest-sim-issuer.key.pem"), "rb").read(), None)
    n = k.public_key().public_numbers()
    def i2b(i):
        return i.to_bytes((i.bit_length() + 7) // 8, "big")
    jwk = json.dumps({"e": b64u(i2b(n.e)), "kty": "RSA", "n": b64u(i2b(n.n))}, separators=(",", ":"))
    import hashlib
    return "https://sim-issuer.escrowd.invalid/" + b64u(hashlib.sha256(jwk.encode()).digest())


def evidence(work, issuer_key, issuer, nonce, project, run, role, digest, now=None, lifetime=None):
    """A sim attestation token made with escrow's attest commands, as the enclave makes it."""
    key = os.path.join(work, "ephemeral.pem")
    if not os.path.exists(key):
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", key], check=True, capture_output=True)
    rd = escrow("attest", "runtime-data", "--key", key, "--nonce", nonce, "--project", project,
                "--run", run, "--role", role)
    rdf = os.path.join(work, "rd.json")
    with open(rdf, "w") as f:
        f.write(rd)
    args = ["attest", "sim-token", rdf, "--issuer-key", issuer_key, "--issuer", issuer,
            "--package-digest", digest]
    if now is not None:
        args += ["--now", str(now)]
    if lifetime is not None:
        args += ["--lifetime", str(lifetime)]
    return escrow(*args).strip()


def key_release_tests(pid, q, work, allowed=True):
    """Key release refusals on a run in progress (its token and nonces set here)."""
    run_id, alg_sha = sql("SELECT r.id, a.sha256 FROM run r JOIN run_configuration c ON c.id = "
                          "r.config_id JOIN artifact_version a ON a.id = c.algorithm_id WHERE "
                          f"c.id = '{q['run_configuration']}' ORDER BY r.run_number DESC LIMIT 1")[0]
    import hashlib
    tok = "test-enclave-token-" + run_id
    sql(f"UPDATE run SET enclave_token_sha256 = '{hashlib.sha256(tok.encode()).hexdigest()}', "
        f"attest_nonce_ds = 'nonce-1', attest_nonce_ao = 'nonce-a' WHERE id = '{run_id}'")
    iss, ikey = issuer_url(T.DATA), os.path.join(T.DATA, "attest-sim-issuer.key.pem")
    digest = "sha256:" + alg_sha
    kr = "/api/v1/enclave/key-release/"
    H = {"Authorization": "Bearer " + tok}

    def release(ev, role="ds", headers=H):
        return call("POST", kr, form={"run_id": run_id, "role": role, "format": "sim", "evidence": ev},
                    headers=headers)
    good = evidence(work, ikey, iss, "nonce-1", pid, run_id, "ds", digest)
    if not allowed:
        expect("simulated evidence is refused when escrowd runs without --allow-simulated-tee",
               release(good), 403, "simulated")
        return
    expect("the key release needs the run's enclave token", release(good, headers={"Authorization": "Bearer nope"}), 401)
    expect("a token from another issuer (same URL, another key) is refused", release(evidence(
        work, os.path.join(work, "other-issuer.pem"), iss, "nonce-1", pid, run_id, "ds", digest)), 403)
    expect("a token from an untrusted issuer URL is refused", release(evidence(
        work, ikey, "https://elsewhere.invalid/sim", "nonce-1", pid, run_id, "ds", digest)), 403)
    expect("another run's token is refused", release(evidence(
        work, ikey, iss, "nonce-1", pid, "other-run", "ds", digest)), 403)
    expect("a wrong package digest is refused", release(evidence(
        work, ikey, iss, "nonce-1", pid, run_id, "ds", "sha256:" + "0" * 64)), 403)
    expect("an expired token is refused", release(evidence(
        work, ikey, iss, "nonce-1", pid, run_id, "ds", digest, now=int(time.time()) - 4000, lifetime=600)), 403)
    expect("a token with another nonce is refused", release(evidence(
        work, ikey, iss, "nonce-2", pid, run_id, "ds", digest)), 403)
    expect("a token for the other role is refused", release(evidence(
        work, ikey, iss, "nonce-a", pid, run_id, "ao", digest)), 403)
    r = expect("a valid simulated token releases the DS's key", release(good), 200)
    payload = json.loads(base64.urlsafe_b64decode(r.json["value"].split(".")[1] + "==")) if r.json else {}
    key = payload.get("response", {}).get("key", {}).get("key", {})
    check("the release is Key-Vault-shaped: the private key only wrapped (key_hsm), no 'd'",
          "key_hsm" in key and "d" not in key and b"PRIVATE KEY" not in r.body, r.body[:300])
    expect("the same token again (a replayed nonce) is refused", release(good), 403, "nonce")
    r = expect("the enclave fetches the WCEK with the run's token", call(
        "GET", "/api/v1/enclave/wcek/", query={"run_id": run_id, "role": "ds"}, headers=H), 200)
    expect("not without it", call("GET", "/api/v1/enclave/wcek/", query={"run_id": run_id, "role": "ds"}), 401)


def set_sas_expiry(version_id, when):
    """Simulate the passage of time: the SAS expiry recorded for a dataset version."""
    if T.DATABASE:
        meta = json.loads(T.psql(T.DATABASE, f"SELECT meta_json FROM artifact_version WHERE id = '{version_id}'").strip())
        meta["sas_expiry"] = when
        T.psql(T.DATABASE, "UPDATE artifact_version SET meta_json = '%s' WHERE id = '%s'" %
               (json.dumps(meta).replace("'", "''"), version_id))
        return
    con = sqlite3.connect(os.path.join(T.DATA, "escrowd.db"))
    meta = json.loads(con.execute("SELECT meta_json FROM artifact_version WHERE id = ?", (version_id,)).fetchone()[0])
    meta["sas_expiry"] = when
    con.execute("UPDATE artifact_version SET meta_json = ? WHERE id = ?", (json.dumps(meta), version_id))
    con.commit()
    con.close()


def dataset_id(tok, tag):
    r = call("GET", "/api/v1/artifact/", tok, query={"artifact_type": "dataset"})
    for v in r.json["versions"]:
        if v["version_tag"] == tag and v["role"] == "ds":
            return v["id"]
    raise RuntimeError("no dataset " + tag)


def restart_scenario(proc, log, pid, ao_key, ds_key, work):
    """kill -9 escrowd mid-run: on restart the run is Failed with a reason, never stuck."""
    AO, DS = STATE["AO"], STATE["DS"]
    q3, qs = STATE["q3"], STATE["qs"]
    expect("request the slow run again", call("POST", "/api/v1/run-request/", AO, fields=dict(qs, machine_type="cpu-standard-1")), 201)
    expect("initiate it", call("POST", "/api/v1/initiate-run/", DS, fields=qs), 200)
    deadline = time.time() + 60
    while time.time() < deadline:
        r = call("GET", "/api/v1/run-status/", DS, query=qs)
        if r.json and (r.json.get("stage") == "Run" or r.json.get("status") != "In Progress"):
            break
        time.sleep(0.05)
    check("the slow run is running", r.json and r.json["stage"] == "Run", r.body[:300])
    key_release_tests(STATE["pid"], qs, work)
    stop(proc, log, signal.SIGKILL)
    proc, log = start(T.DATA, "--allow-simulated-tee", "--runners", "1")
    r = wait_status(DS, qs, ("Failed", "Completed"), timeout=60)
    check("after a kill -9 mid-run the run is not stuck: Failed with the reason",
          r.json and r.json["status"] == "Failed" and "restarted" in (r.json["reason"] or ""), r.body[:400])
    r = expect("its logs end with the reason", call("GET", "/api/v1/log-download/", DS, query=qs), 200)
    check("the last log line says Run Failed", r.json and "Run Failed" in r.json["logs"][-1]["message"], r.body[-300:])
    # without --allow-simulated-tee, initiate is refused
    stop(proc, log)
    rdir = os.path.join(T.DATA, "runs", "escrowd-embedded")
    check("a stopped server leaves no run folder in the data folder",
          not os.path.isdir(rdir) or not os.listdir(rdir))
    proc, log = start(T.DATA, "--runners", "0")
    expect("request once more", call("POST", "/api/v1/run-request/", AO, fields=dict(q3, machine_type="cpu-standard-1")), 201)
    expect("a server without --allow-simulated-tee refuses to initiate a sandbox run",
           call("POST", "/api/v1/initiate-run/", DS, fields=q3), 409, "allow-simulated-tee")
    # a run in progress (as another runner would hold it): simulated evidence is still refused
    sql("UPDATE run SET status = 'In Progress', runner = 'elsewhere', heartbeat = 9999999999 WHERE "
        f"config_id = '{qs['run_configuration']}' AND status = 'Failed'")
    key_release_tests(STATE["pid"], qs, work, allowed=False)
    check("no answer of any endpoint held a private key",
          not any(b"PRIVATE KEY" in b or b'"d":' in b for b in BODIES))
    return proc, log


if __name__ == "__main__":
    sys.exit(main())
