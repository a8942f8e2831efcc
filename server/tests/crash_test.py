#!/usr/bin/env python3
"""escrowd crash safety: uploads run while escrowd is killed with SIGKILL; after a restart
every acknowledged (201) upload is there, the database passes its integrity check, and every
recorded file exists with the content its SHA-256 name promises. Loopback only.
Runs on SQLite, or on PostgreSQL with ESCROWD_PG=1 (see api_test.py; there escrowd is killed,
the database server keeps running, and amcheck verifies the indexes).
Env: ESCROWD_BIN, ESCROW_TEST_VECTORS, ESCROWD_TMP."""
import hashlib, json, os, shutil, signal, sqlite3, subprocess, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_test as A  # noqa: E402

ROUNDS = 3


def start():
    log = open(os.path.join(A.TMP, "escrowd.log"), "a")
    p = subprocess.Popen([A.BIN, "serve", "--data", A.DATA, "--listen", "127.0.0.1:0"] + A.db_args(),
                         stdout=subprocess.PIPE, stderr=log, text=True)
    A.BASE = "http://" + json.loads(p.stdout.readline())["listening"]
    return p


def main():
    pid = A.fresh_two_party_project("crash_test", "P")
    ds_key = A.load_key("kek4096.key.pem")
    acked = []
    for rnd in range(ROUNDS):
        proc = start()
        tok = A.make_jwt(ds_key, A.claims(pid, "ds@x.test", exp_delta=600))
        stop = threading.Event()

        def upload_loop(worker):
            i = 0
            while not stop.is_set():
                tag = f"r{rnd}-w{worker}-{i}"
                pdf = b"%PDF-1.4\n" + os.urandom(200_000) + tag.encode()
                try:
                    r = A.call("POST", "/api/v1/data-attestation/", tok,
                               fields={"project_id": pid, "name": "Att", "version_tag": tag},
                               files={"file_name": ("att.pdf", pdf)})
                    if r.status == 201:
                        acked.append((tag, hashlib.sha256(pdf).hexdigest()))
                except OSError:
                    return
                i += 1

        threads = [threading.Thread(target=upload_loop, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
    A.check("uploads were acknowledged before the kills", len(acked) > 0, len(acked))

    proc = start()
    try:
        tok = A.make_jwt(ds_key, A.claims(pid, "ds@x.test"))
        missing = []
        for tag, _ in acked:
            r = A.call("POST", "/api/v1/data-attestation/", tok,
                       fields={"project_id": pid, "name": "Att", "version_tag": tag},
                       files={"file_name": ("att.pdf", b"%PDF-1.4\nagain")})
            if r.status != 409:
                missing.append((tag, r.status))
        A.check("every acknowledged upload survived the kills", not missing, missing[:5])
    finally:
        proc.send_signal(signal.SIGTERM)
        A.check("escrowd stops cleanly after the restart", proc.wait(timeout=30) == 0)

    q = "SELECT version_tag, sha256 FROM artifact_version WHERE sha256 IS NOT NULL"
    if A.DATABASE:
        A.psql(A.DATABASE, "CREATE EXTENSION IF NOT EXISTS amcheck")
        out = A.psql(A.DATABASE, "SELECT count(*) FROM (SELECT bt_index_check(c.oid, true)"
                                 " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                                 " JOIN pg_namespace n ON n.oid = c.relnamespace"
                                 " JOIN pg_am a ON a.oid = c.relam"
                                 " WHERE n.nspname = 'public' AND a.amname = 'btree') t")
        A.check("every index of the database passes amcheck", int(out.strip()) > 0, out)
        rows = [tuple(line.split("|")) for line in A.psql(A.DATABASE, q).splitlines() if line]
    else:
        db = sqlite3.connect(os.path.join(A.DATA, "escrowd.db"))
        A.check("the database passes its integrity check",
                db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
        rows = db.execute(q).fetchall()
    bad = []
    for tag, sha in rows:
        path = os.path.join(A.DATA, "blobs", sha[:2], sha)
        try:
            with open(path, "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() != sha:
                    bad.append(tag)
        except OSError:
            bad.append(tag)
    A.check("every recorded file exists whole under its SHA-256 name", not bad, bad[:5])
    tmp = [n for _, _, files in os.walk(os.path.join(A.DATA, "blobs")) for n in files if n.startswith(".tmp-")]
    A.check("the restart removed the unfinished temporary files", not tmp, tmp[:5])
    known = dict(rows)
    A.check("acknowledged uploads recorded the content that was sent",
            all(known.get(tag) == sha for tag, sha in acked))
    print(f"{len(acked)} acknowledged uploads over {ROUNDS} kills; {len(rows)} rows")
    if A.FAILS:
        print(f"{len(A.FAILS)} failed: {A.FAILS}")
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
