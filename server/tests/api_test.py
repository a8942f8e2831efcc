#!/usr/bin/env python3
"""escrowd API test: starts escrowd on a free loopback port and drives the KEK / WCEK /
criteria / dataset path of BeeKeeperAI's API sample, with JWTs made the way the sample makes
them (PyJWT's RS256 compact form: header {"alg":"RS256","typ":"JWT"}), plus the refusals.
Traffic goes to 127.0.0.1 only. Needs python3 with `cryptography`.
Env: ESCROWD_BIN, ESCROW_TEST_VECTORS, ESCROWD_TMP; ESCROWD_PG=1 runs on PostgreSQL (below)."""
import base64, datetime, hashlib, json, os, shutil, signal, subprocess, sys, time, uuid
import urllib.error, urllib.parse, urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

BIN = os.environ["ESCROWD_BIN"]
VEC = os.environ["ESCROW_TEST_VECTORS"]
TMP = os.path.join(os.environ.get("ESCROWD_TMP", "/tmp"), "api_test")
AUD = "frontoffice.beekeeperai"
FAILS = []


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_jwt(key, claims, header=None, alg_sign=True):
    h = header or {"alg": "RS256", "typ": "JWT"}
    si = b64u(json.dumps(h, separators=(",", ":")).encode()) + "." + \
        b64u(json.dumps(claims, separators=(",", ":")).encode())
    sig = key.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256()) if alg_sign else b""
    return si + "." + b64u(sig)


def claims(project, email, aud=AUD, exp_delta=300, iss="EscrowAI-API"):
    exp = datetime.datetime.now(tz=datetime.timezone.utc) + datetime.timedelta(seconds=exp_delta)
    c = {"iss": iss, "exp": int(exp.timestamp()), "sub": project, "user": email}
    if aud is not None:
        c["aud"] = aud
    return c


def multipart(fields, files):
    boundary = "----escrowdtest" + uuid.uuid4().hex
    out = b""
    for k, v in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n").encode()
        out += v.encode() + b"\r\n"
    for k, (fname, data) in files.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; "
                f"filename=\"{fname}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, "multipart/form-data; boundary=" + boundary


class Resp:
    def __init__(self, status, body):
        self.status = status
        self.body = body
        try:
            self.json = json.loads(body)
        except ValueError:
            self.json = None


def call(method, path, token=None, query=None, fields=None, files=None, form=None,
         raw=None, ctype=None, headers=None):
    url = BASE + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = None
    h = {"User-Agent": "Mozilla/5.0 (Macintosh) Safari/605.1.15"}
    if token:
        h["Authorization"] = "Bearer " + token
    if files is not None or fields is not None:
        data, h["Content-Type"] = multipart(fields or {}, files or {})
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        h["Content-Type"] = "application/x-www-form-urlencoded"
    elif raw is not None:
        data = raw
        if ctype:
            h["Content-Type"] = ctype
    if headers:
        h.update(headers)
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return Resp(r.status, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.read())


def raw_status(head):
    import socket
    host, port = BASE[len("http://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head.encode())
        data = s.recv(4096)
    try:
        return int(data.split(b" ")[1])
    except (IndexError, ValueError):
        return -1


def check(name, cond, detail=""):
    if cond:
        print("ok   " + name)
    else:
        print("FAIL " + name + " " + str(detail)[:400])
        FAILS.append(name)


def expect(name, r, status, contains=None):
    ok = r.status == status and (contains is None or contains.encode() in r.body)
    check(name, ok, f"status {r.status} body {r.body[:300]!r}")
    return r


# PostgreSQL (ctest server_*_pg, ESCROWD_PG=1): each test gets a fresh database in the cluster
# of tools/pg-test-cluster.sh (ESCROWD_PG_CLUSTER: the script's path), named after the test
# and the build folder so builds and tests side by side never share one. Without a running
# cluster the test is skipped (77), except in CI (ESCROWD_PG_REQUIRED=1) where it fails.
DATABASE = None


def db_args():
    return ["--database", DATABASE] if DATABASE else []


def psql(url, *sql):
    for q in sql:
        p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", url, "-c", q],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"psql failed: {p.stderr.strip()}")
    return p.stdout


def fresh_database(test_name):
    """On PostgreSQL, (re)create this test's database and point DATABASE at it."""
    global DATABASE
    if os.environ.get("ESCROWD_PG") != "1":
        return
    p = subprocess.run([os.environ["ESCROWD_PG_CLUSTER"], "url"], capture_output=True, text=True)
    if p.returncode != 0:
        why = "no PostgreSQL test cluster is running (tools/pg-test-cluster.sh start): " + p.stderr.strip()
        if os.environ.get("ESCROWD_PG_REQUIRED") == "1":
            print("FAIL " + why)
            sys.exit(1)
        print("SKIP " + why)
        sys.exit(77)
    base = p.stdout.strip()
    tag = hashlib.sha256(os.environ.get("ESCROWD_TMP", "/tmp").encode()).hexdigest()[:10]
    name = f"escrowd_{test_name}_{tag}"
    psql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    DATABASE = base.replace("/postgres?", f"/{name}?", 1)


def database_dump():
    """Every byte the database holds, as far as a reader of its files would see them."""
    if DATABASE:
        p = subprocess.run(["pg_dump", "--data-only", DATABASE], capture_output=True)
        if p.returncode != 0:
            raise RuntimeError("pg_dump failed: " + p.stderr.decode(errors="replace"))
        return p.stdout
    out = b""
    for name in ("escrowd.db", "escrowd.db-wal"):
        path = os.path.join(DATA, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                out += f.read()
    return out


def admin(*args):
    p = subprocess.run([BIN, "admin", "--data", DATA] + db_args() + list(args),
                       capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def admin_json(*args):
    """admin(*args) for set-up that must succeed (the benchmarks): its JSON answer."""
    rc, out, err = admin(*args)
    if rc:
        sys.exit(f"escrowd admin {args[0]} failed: {err}")
    return json.loads(out)


def load_key(name):
    with open(os.path.join(VEC, "keys", name), "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def fresh_two_party_project(test_name, project_name):
    """A new data folder for test_name (in ESCROWD_TMP) holding organisations AO and DS, users
    ao@x.test (key kek3072) and ds@x.test (key kek4096), and one project between them with
    3072-bit KEKs. Sets TMP and DATA; returns the project id."""
    global TMP, DATA
    TMP = os.path.join(os.environ.get("ESCROWD_TMP", "/tmp"), test_name)
    shutil.rmtree(TMP, ignore_errors=True)
    os.makedirs(TMP)
    DATA = os.path.join(TMP, "data")
    fresh_database(test_name)
    keys = os.path.join(VEC, "keys")
    admin("create-org", "--name", "AO")
    admin("create-org", "--name", "DS")
    admin("create-user", "--org", "AO", "--email", "ao@x.test", "--public-key", os.path.join(keys, "kek3072.pub.pem"))
    admin("create-user", "--org", "DS", "--email", "ds@x.test", "--public-key", os.path.join(keys, "kek4096.pub.pem"))
    rc, out, err = admin("create-project", "--name", project_name, "--ao-org", "AO", "--ds-org", "DS",
                         "--kek-bits", "3072", "--ao-user", "ao@x.test", "--ds-user", "ds@x.test")
    check("project created", rc == 0, err)
    return json.loads(out)["id"]


def sas_url(days=7, sp="rl"):
    se = (datetime.datetime.now(tz=datetime.timezone.utc) + datetime.timedelta(days=days)) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = urllib.parse.quote(base64.b64encode(b"\x01" * 32).decode(), safe="")
    return (f"https://acct.blob.core.windows.net/data?sv=2022-11-02&sr=c&sp={sp}&spr=https"
            f"&se={se}&sig={sig}")


def main():
    global DATA, BASE
    shutil.rmtree(TMP, ignore_errors=True)
    os.makedirs(TMP)
    DATA = os.path.join(TMP, "data")
    fresh_database("api_test")
    ao_key = load_key("kek3072.key.pem")
    ds_key = load_key("kek4096.key.pem")
    keys = os.path.join(VEC, "keys")

    # --- admin ----------------------------------------------------------------------------
    for org in ("Acme AO", "Hosp DS", "Other Org", "DS Two", "Platform"):
        rc, out, err = admin("create-org", "--name", org)
        check("admin create-org prints one JSON object", rc == 0 and json.loads(out)["name"] == org, err)
    rc, out, err = admin("create-org", "--name", "Acme AO")
    check("admin refuses a duplicate organisation with exit 1", rc == 1 and "already exists" in err, err)
    users = [("Acme AO", "ao@acme.test", "kek3072.pub.pem"), ("Hosp DS", "ds@hosp.test", "kek4096.pub.pem"),
             ("Other Org", "out@other.test", "kek4096.pub.pem"), ("Acme AO", "nokey@acme.test", None),
             ("DS Two", "ds2@two.test", "kek4096.pub.pem")]
    for org, email, pub in users:
        a = ["create-user", "--org", org, "--email", email]
        if pub:
            a += ["--public-key", os.path.join(keys, pub)]
        rc, out, err = admin(*a)
        check("admin create-user " + email, rc == 0 and json.loads(out)["email"] == email, err)
    rc, out, err = admin("create-user", "--org", "Platform", "--email", "op@platform.test", "--operator",
                         "--public-key", os.path.join(keys, "kek3072.pub.pem"))
    check("admin creates an operator", rc == 0 and json.loads(out)["operator"] is True, err)
    rc, out, err = admin("create-user", "--org", "Acme AO", "--email", "weak@acme.test",
                         "--public-key", os.path.join(keys, "weak2048.pub.pem"))
    check("admin accepts a 2048-bit API key", rc == 0, err)
    rc, out, err = admin("create-user", "--org", "Nope", "--email", "x@y.test")
    check("admin create-user refuses an unknown organisation", rc == 1, err)
    rc, out, err = admin("create-project", "--name", "Covid Detect", "--ao-org", "Acme AO",
                         "--ds-org", "Hosp DS", "DS Two", "--kek-bits", "3072", "--ao-user", "ao@acme.test",
                         "nokey@acme.test", "--ds-user", "ds@hosp.test", "ds2@two.test")
    check("admin create-project", rc == 0, err)
    project = json.loads(out)
    pid = project["id"]
    check("project has an AO and two DS parties with KEK file names",
          [p["role"] for p in project["parties"]] == ["ao", "ds", "ds"] and
          project["parties"][0]["kek_file_name"].endswith("-ao.der"), out)
    rc, out, err = admin("create-project", "--name", "Other", "--ao-org", "Other Org",
                         "--ds-org", "Hosp DS", "--kek-bits", "3072", "--ao-user", "out@other.test")
    check("admin create-project (second project)", rc == 0, err)
    other_pid = json.loads(out)["id"]
    rc, out, err = admin("create-project", "--name", "Bad", "--ao-org", "Acme AO",
                         "--ds-org", "Acme AO", "--kek-bits", "3072")
    check("an organisation cannot hold two roles in a project", rc == 1, err)
    with open(os.path.join(DATA, "master.key"), "rb") as f:
        mk = f.read()
    check("the master key is 32 bytes, mode 0600", len(mk) == 32 and
          (os.stat(os.path.join(DATA, "master.key")).st_mode & 0o777) == 0o600)

    # --- serve ----------------------------------------------------------------------------
    log = open(os.path.join(TMP, "escrowd.log"), "w")
    proc = subprocess.Popen([BIN, "serve", "--data", DATA, "--listen", "127.0.0.1:0"] + db_args(),
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = proc.stdout.readline()
        BASE = "http://" + json.loads(line)["listening"]
        run_api(pid, other_pid, ao_key, ds_key, mk)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = -9
        log.close()
    check("escrowd stops cleanly on SIGTERM", rc == 0, rc)
    with open(os.path.join(TMP, "escrowd.log"), "rb") as f:
        logtext = f.read()
    check("the log holds no key material or token",
          b"PRIVATE KEY" not in logtext and b"eyJ" not in logtext and mk not in logtext)
    db = database_dump()
    check("the database holds no plaintext private key", b"PRIVATE KEY" not in db)
    check("the database holds no SAS token in clear (sealed by the vault)", b"sig=" not in db and b"PRIVATE KEY" not in db)
    newer = os.path.join(TMP, "newer")
    shutil.copytree(DATA, newer)
    newer_db = []
    if DATABASE:
        psql(DATABASE, "INSERT INTO db_migrations VALUES ('core', 99, 0)")
        newer_db = ["--database", DATABASE]
    else:
        import sqlite3
        con = sqlite3.connect(os.path.join(newer, "escrowd.db"))
        con.execute("INSERT INTO db_migrations VALUES ('core', 99, 0)")
        con.commit()
        con.close()
    p = subprocess.run([BIN, "admin", "--data", newer] + newer_db + ["create-org", "--name", "x"],
                       capture_output=True, text=True)
    check("a database newer than the binary is refused", p.returncode == 2 and "newer" in p.stderr, p.stderr)
    if FAILS:
        print(f"{len(FAILS)} failed: {FAILS}")
        return 1
    print("all passed")
    return 0


def run_api(pid, other_pid, ao_key, ds_key, mk):
    AO = make_jwt(ao_key, claims(pid, "ao@acme.test"))
    DS = make_jwt(ds_key, claims(pid, "ds@hosp.test"))
    kek = "/api/v1/key-encryption-key-download/"

    # KEK download: query (current sample), form body on GET (older sample), both slashes
    r = expect("AO downloads its KEK with project_id in the query", call("GET", kek, AO, query={"project_id": pid}), 200)
    ao_kek = r.json["key content"]
    check("the KEK is PEM SPKI under \"key content\"", ao_kek.startswith("-----BEGIN PUBLIC KEY-----"))
    check("the KEK file name follows the manual", r.json["file_name"].endswith("-ao.der"), r.json)
    r = expect("GET with a form body (older sample)", call("GET", kek, AO, form={"project_id": pid}), 200)
    check("the same KEK either way", r.json and r.json["key content"] == ao_kek)
    expect("the path without trailing slash works too", call("GET", kek.rstrip("/"), AO), 200)
    r = expect("DS downloads its own KEK", call("GET", kek, DS, query={"project_id": pid}), 200)
    ds_kek = r.json["key content"]
    check("AO and DS KEKs differ", ds_kek != ao_kek)
    expect("POST on the KEK download is 405", call("POST", kek, AO, form={"project_id": pid}), 405)
    expect("unknown endpoint is 404", call("GET", "/api/v1/nope/", AO), 404)
    import yaml
    spec_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "openapi.yaml")
    with open(spec_path) as f:
        spec = yaml.safe_load(f)
    for path, ops in spec["paths"].items():
        for method in ops:
            r = call(method.upper(), path, None)
            secured = ops[method].get("security", spec.get("security")) != []
            # unsecured: 200, or 400 for one that needs a body (the login)
            check(f"docs/openapi.yaml {method.upper()} {path} is served",
                  r.status == 401 if secured else r.status in (200, 400), r.status)

    # --- authentication refusals ---------------------------------------------------------
    expect("no Authorization is 401", call("GET", kek, None, query={"project_id": pid}), 401)
    expect("alg none is refused", call("GET", kek, make_jwt(ao_key, claims(pid, "ao@acme.test"),
           {"alg": "none", "typ": "JWT"}, alg_sign=False)), 401, "only RS256")
    hs = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + \
        b64u(json.dumps(claims(pid, "ao@acme.test")).encode()) + "." + b64u(b"x" * 32)
    expect("HS256 is refused", call("GET", kek, hs), 401, "only RS256")
    wrong = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    expect("a token signed with another key is refused",
           call("GET", kek, make_jwt(wrong, claims(pid, "ao@acme.test"))), 401, "does not verify")
    expect("an expired token is refused",
           call("GET", kek, make_jwt(ao_key, claims(pid, "ao@acme.test", exp_delta=-600))), 401, "expired")
    expect("a token valid for a day is refused",
           call("GET", kek, make_jwt(ao_key, claims(pid, "ao@acme.test", exp_delta=86400))), 401, "too long")
    expect("a token within the clock skew is accepted",
           call("GET", kek, make_jwt(ao_key, claims(pid, "ao@acme.test", exp_delta=-10))), 200)
    expect("a wrong issuer is refused",
           call("GET", kek, make_jwt(ao_key, claims(pid, "ao@acme.test", iss="x"))), 401, "issuer")
    expect("a token without audience is refused",
           call("GET", kek, make_jwt(ao_key, claims(pid, "ao@acme.test", aud=None))), 401, "audience")
    expect("an unknown audience is refused",
           call("GET", kek, make_jwt(ao_key, claims(pid, "ao@acme.test", aud="evil"))), 401, "audience")
    expect("the staging audience is accepted by default",
           call("GET", kek, make_jwt(ao_key, claims(pid, "ao@acme.test", aud="staging.api.beekeeperai"))), 200)
    expect("a user without an API key is refused",
           call("GET", kek, make_jwt(ao_key, claims(pid, "nokey@acme.test"))), 401)
    expect("an unknown user is refused",
           call("GET", kek, make_jwt(ao_key, claims(pid, "x'; DROP TABLE user;--@a.test"))), 401)
    answers = [call("GET", kek, make_jwt(wrong, claims(pid, u))).body
               for u in ("ao@acme.test", "nokey@acme.test", "ghost@acme.test")]
    check("a token naming an unknown user or one without an API key is answered like a wrong "
          "key's (the answer does not tell which users exist)", len(set(answers)) == 1, answers)
    expect("another project's id in the token is 403 for a non-member",
           call("GET", kek, make_jwt(ao_key, claims(other_pid, "ao@acme.test"))), 403)
    expect("a project_id that differs from the token's is 403",
           call("GET", kek, AO, query={"project_id": other_pid}), 403)
    expect("a non-existent project is 403", call("GET", kek,
           make_jwt(ao_key, claims(str(uuid.uuid4()), "ao@acme.test"))), 403)
    tampered = AO.split(".")
    body = json.loads(base64.urlsafe_b64decode(tampered[1] + "=="))
    body["user"] = "ds@hosp.test"
    tampered[1] = b64u(json.dumps(body).encode())
    expect("a tampered payload is refused", call("GET", kek, ".".join(tampered)), 401)
    expect("garbage token is refused", call("GET", kek, "a.b"), 401)

    # --- WCEK ------------------------------------------------------------------------------
    wcek_url = "/api/v1/wrapped-content-encryption-key/"
    ao_pub = serialization.load_pem_public_key(ao_kek.encode())
    ds_pub = serialization.load_pem_public_key(ds_kek.encode())
    cek = os.urandom(32)
    sha1 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    sha256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    meta = {"project_id": pid, "name": "AO WCEK", "description": "d", "version_description": "first",
            "version_tag": "v1"}
    r = expect("AO uploads a SHA-1 WCEK (the sample's tool)", call("POST", wcek_url, AO, fields=meta,
               files={"file_name": ("wcek_x.key.bkenc", ao_pub.encrypt(cek, sha1))}), 201)
    check("the WCEK version answers its system version 1", r.json and r.json["system_version"] == 1, r.body)
    expect("the same tag again is 409", call("POST", wcek_url, AO, fields=meta,
           files={"file_name": ("w.bkenc", ao_pub.encrypt(cek, sha256))}), 409)
    r = expect("a SHA-256 WCEK, new tag", call("POST", wcek_url, AO, fields=dict(meta, version_tag="v2"),
               files={"file_name": ("w.bkenc", ao_pub.encrypt(cek, sha256))}), 201)
    check("system versions count up", r.json and r.json["system_version"] == 2, r.body)
    expect("a WCEK wrapped with the other party's KEK is refused",
           call("POST", wcek_url, AO, fields=dict(meta, version_tag="v3"),
                files={"file_name": ("w.bkenc", ds_pub.encrypt(cek, sha1))}), 422, "does not unwrap")
    expect("a WCEK of the wrong size is refused", call("POST", wcek_url, AO, fields=dict(meta, version_tag="v4"),
           files={"file_name": ("w.bkenc", b"x" * 100)}), 422, "must be 384 bytes")
    expect("no file is 400", call("POST", wcek_url, AO, fields=meta), 400, "file_name")
    expect("a path in the file name is refused", call("POST", wcek_url, AO, fields=dict(meta, version_tag="v5"),
           files={"file_name": ("../../etc/passwd", ao_pub.encrypt(cek, sha1))}), 400, "plain name")
    expect("a missing version_tag is 400", call("POST", wcek_url, AO, fields={"project_id": pid, "name": "n"},
           files={"file_name": ("w.bkenc", ao_pub.encrypt(cek, sha1))}), 400, "version_tag")
    expect("DS uploads its own WCEK", call("POST", wcek_url, DS, fields=dict(meta, name="DS WCEK"),
           files={"file_name": ("w.bkenc", ds_pub.encrypt(cek, sha1))}), 201)

    # --- bodies ----------------------------------------------------------------------------
    expect("malformed multipart is 400", call("POST", wcek_url, AO, raw=b"--x\r\nnonsense",
           ctype="multipart/form-data; boundary=x"), 400, "multipart")
    expect("multipart without boundary is 400", call("POST", wcek_url, AO, raw=b"abc",
           ctype="multipart/form-data"), 400, "boundary")
    expect("an unknown body type is 400", call("POST", wcek_url, AO, raw=b"{}", ctype="application/json"), 400)
    expect("a bad %-escape is 400", call("POST", "/api/v1/dataset/", AO, raw=b"a=%zz",
           ctype="application/x-www-form-urlencoded"), 400, "escape")

    # --- validation criteria ------------------------------------------------------------------
    crit_url = "/api/v1/validation-criteria/"
    good = json.dumps({"accuracy": {"type": "float", "min": 0, "max": 1}}).encode()
    cmeta = dict(meta, name="Criteria")
    r = expect("AO uploads validation criteria", call("POST", crit_url, AO, fields=cmeta,
               files={"file_name": ("criteria.json", good)}), 201)
    bad = json.dumps({"accuracy": {"type": "flaot"}}).encode()
    r = expect("a malformed schema is refused with its schema errors", call("POST", crit_url, AO,
               fields=dict(cmeta, version_tag="v2"), files={"file_name": ("c.json", bad)}), 422)
    check("the refusal carries Cerberus's SchemaError tree",
          r.json and "flaot" in json.dumps(r.json.get("schema_errors")), r.body)
    expect("not JSON is refused", call("POST", crit_url, AO, fields=dict(cmeta, version_tag="v3"),
           files={"file_name": ("c.json", b"{nope")}), 422)
    expect("the DS may not upload criteria", call("POST", crit_url, DS, fields=cmeta,
           files={"file_name": ("criteria.json", good)}), 403)

    acc = "/api/v1/validation-criteria-accept/"
    expect("the AO may not accept criteria", call("POST", acc, AO, form={"project_id": pid,
           "validation_criteria_version": "v1"}), 403)
    r = expect("the DS accepts a criteria version by tag", call("POST", acc, DS, form={"project_id": pid,
               "validation_criteria_version": "v1"}), 201)
    check("the acceptance names the version", r.json and r.json["validation_criteria_version"] == "v1", r.body)
    expect("accepting twice is 409", call("POST", acc, DS, form={"project_id": pid,
           "validation_criteria_version": "v1"}), 409)
    expect("accepting an unknown version is 404", call("POST", acc, DS, form={"project_id": pid,
           "validation_criteria_version": "v7"}), 404)
    expect("accepting without a version is 400", call("POST", acc, DS, form={"project_id": pid}), 400)

    # --- specification and attestation -------------------------------------------------------
    pdf = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
    expect("AO uploads the data specification", call("POST", "/api/v1/data-specification/", AO,
           fields=dict(meta, name="Spec"), files={"file_name": ("spec.pdf", pdf)}), 201)
    expect("a specification that is not a PDF/doc/docx is refused", call("POST", "/api/v1/data-specification/", AO,
           fields=dict(meta, name="Spec", version_tag="v9"), files={"file_name": ("spec.exe", b"MZ" + pdf)}), 422)
    expect("a .pdf name with other content is refused", call("POST", "/api/v1/data-specification/", AO,
           fields=dict(meta, name="Spec", version_tag="v8"), files={"file_name": ("spec.pdf", b"MZ")}), 422)
    expect("the DS may not upload the specification", call("POST", "/api/v1/data-specification/", DS,
           fields=dict(meta, name="Spec"), files={"file_name": ("spec.pdf", pdf)}), 403)
    expect("the AO may not upload an attestation", call("POST", "/api/v1/data-attestation/", AO,
           fields=dict(meta, name="Att"), files={"file_name": ("att.pdf", pdf)}), 403)

    # --- dataset ------------------------------------------------------------------------------
    ds_url = "/api/v1/dataset/"
    dmeta = {"project_id": pid, "name": "Chest X-rays", "description": "d", "version_description": "v",
             "version_tag": "d1", "tags": "xray", "dataset_uri": sas_url(),
             "data_specification_version": "v1", "data_attestation_version": "a1"}
    expect("a dataset before its attestation is 409", call("POST", ds_url, DS, fields=dmeta), 409, "attestation")
    expect("DS uploads the attestation", call("POST", "/api/v1/data-attestation/", DS,
           fields=dict(meta, name="Att", version_tag="a1"), files={"file_name": ("att.pdf", pdf)}), 201)
    r = expect("DS adds a dataset with a valid SAS URL", call("POST", ds_url, DS, fields=dmeta), 201)
    check("the dataset links its specification and attestation versions",
          r.json and r.json["details"]["data_specification_version"] == "v1" and
          r.json["details"]["sas_status"] == "valid", r.body)
    check("the answer shows the dataset's location without its SAS token",
          r.json and r.json["details"]["dataset_location"] == "https://acct.blob.core.windows.net/data"
          and b"sig=" not in r.body, r.body)
    expect("a form-urlencoded dataset works too", call("POST", ds_url, DS, form=dict(dmeta, version_tag="d2")), 201)
    expect("an expiring SAS is refused", call("POST", ds_url, DS, fields=dict(dmeta, version_tag="d3",
           dataset_uri=sas_url(days=0.5))), 422, "expiring")
    expect("a SAS that cannot list is refused", call("POST", ds_url, DS, fields=dict(dmeta, version_tag="d4",
           dataset_uri=sas_url(sp="r"))), 422, "invalid")
    expect("an unknown specification version is 409", call("POST", ds_url, DS,
           fields=dict(dmeta, version_tag="d5", data_specification_version="nope")), 409)
    expect("the AO may not add a dataset", call("POST", ds_url, AO, fields=dmeta), 403)
    sqlish = "'; DROP TABLE artifact_version; --"
    r = expect("SQL metacharacters are stored as text", call("POST", ds_url, DS,
               fields=dict(dmeta, version_tag=sqlish, name=sqlish)), 201)
    check("and echoed back unchanged", r.json and r.json["version_tag"] == sqlish, r.body)
    expect("control characters in a field are 400", call("POST", ds_url, DS,
           fields=dict(dmeta, version_tag="d\x016")), 400)
    # --- algorithm ------------------------------------------------------------------------------
    import io, zipfile

    def algzip(files):
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w") as z:
            for n, d in files.items():
                z.writestr(n, d)
        return b.getvalue()
    good_files = {"Dockerfile": "FROM python:3.11-slim\nCOPY . /app\nWORKDIR /app\nENTRYPOINT [\"bash\", \"run.sh\"]\n",
                  "run.sh": "python model.py\n", "secrets.yaml": "secretFiles:\n- [model.py.bkenc, model.py]\n",
                  "model.py.bkenc": b"Salted__" + os.urandom(8 + 64 + 16)}
    alg_url = "/api/v1/algorithm/"
    ameta = dict(meta, name="Covid model", algorithm_type="validation", validation_criteria_version="v1",
                 data_attestation_version="a1", upload_type="Upload Zip", upload_file_name="alg.zip")
    r = expect("the AO uploads a validation algorithm as the sample does", call("POST", alg_url, AO, fields=ameta,
               files={"file_name": ("alg.zip", algzip(good_files))}), 201)
    check("the upload status shows the Validating files stage",
          r.json and r.json["details"]["upload_status"][0]["status"] == "File Validation Succeeded" and
          r.json["details"]["validation_criteria_version"] == "v1", r.body[:400])
    bad_files = dict(good_files)
    del bad_files["Dockerfile"]
    r = expect("a package without a Dockerfile is refused with its checks", call("POST", alg_url, AO,
               fields=dict(ameta, version_tag="v2"), files={"file_name": ("alg.zip", algzip(bad_files))}), 422)
    check("the refusal lists the failed check", r.json and "Dockerfile is present" in json.dumps(r.json.get("checks")), r.body[:300])
    expect("a file that is not a zip is refused", call("POST", alg_url, AO, fields=dict(ameta, version_tag="v3"),
           files={"file_name": ("alg.zip", b"not a zip")}), 422)
    expect("a zip with a path trick is refused", call("POST", alg_url, AO, fields=dict(ameta, version_tag="v4"),
           files={"file_name": ("alg.zip", algzip(dict(good_files, **{"../evil": "x"})))}), 422)
    expect("a validation algorithm needs a criteria version", call("POST", alg_url, AO,
           fields={k: v for k, v in dict(ameta, version_tag="v5").items() if k != "validation_criteria_version"},
           files={"file_name": ("alg.zip", algzip(good_files))}), 400, "validation_criteria_version")
    expect("an unknown criteria version is 409", call("POST", alg_url, AO, fields=dict(ameta, version_tag="v6",
           validation_criteria_version="nope"), files={"file_name": ("alg.zip", algzip(good_files))}), 409)
    expect("a training algorithm in a validation-only project is 409", call("POST", alg_url, AO,
           fields=dict(ameta, version_tag="v7", algorithm_type="training"),
           files={"file_name": ("alg.zip", algzip(good_files))}), 409, "validation only")
    expect("an unknown algorithm_type is 400", call("POST", alg_url, AO, fields=dict(ameta, version_tag="v8",
           algorithm_type="validation | training"), files={"file_name": ("alg.zip", algzip(good_files))}), 400)
    expect("the DS may not upload an algorithm", call("POST", alg_url, DS, fields=ameta,
           files={"file_name": ("alg.zip", algzip(good_files))}), 403)

    # --- listings and visibility ------------------------------------------------------------
    DS2 = make_jwt(ds_key, claims(pid, "ds2@two.test"))
    r = expect("the AO lists the project's artifacts", call("GET", "/api/v1/artifact/", AO, query={"project_id": pid}), 200)
    kinds = lambda r: sorted({v["artifact_type"] for v in r.json["versions"]})
    check("the AO sees the project's artifacts but the data stewards' WCEKs",
          r.json and kinds(r) == ["algorithm", "data_attestation", "data_specification", "dataset", "validation_criteria", "wcek"]
          and all(v["role"] == "ao" for v in r.json["versions"] if v["artifact_type"] == "wcek"), r.body[:300])
    check("no listing carries a SAS token", b"sig=" not in r.body and b"dataset_uri" not in r.body, r.body[:300])
    check("the project page says the TEE is simulated", r.json and r.json["project"]["simulated_tee"] is True)
    r = expect("a DS lists the project's artifacts", call("GET", "/api/v1/artifact/", DS), 200)
    check("the DS sees the AO's shared artifacts and its own",
          r.json and kinds(r) == ["algorithm", "data_attestation", "data_specification", "dataset", "validation_criteria", "wcek"], r.body[:300])
    r = expect("a second DS lists the project's artifacts", call("GET", "/api/v1/artifact/", DS2), 200)
    check("a second DS does not see the first DS's attestation, dataset or WCEK",
          r.json and kinds(r) == ["algorithm", "data_specification", "validation_criteria", "wcek"] and
          all(v["role"] == "ao" for v in r.json["versions"]), r.body[:300])
    r = expect("listings filter by artifact_type", call("GET", "/api/v1/artifact/", DS, query={"artifact_type": "dataset"}), 200)
    check("only datasets", r.json and kinds(r) == ["dataset"])
    expect("an unknown artifact_type is 400", call("GET", "/api/v1/artifact/", DS, query={"artifact_type": "x'--"}), 400)
    r = expect("the second DS downloads its own KEK", call("GET", kek, DS2), 200)
    check("each DS has its own KEK", r.json and r.json["key content"] not in (ds_kek, ao_kek))

    # --- authorisation matrix: outsiders and operators --------------------------------------
    OUT = make_jwt(ds_key, claims(pid, "out@other.test"))
    OP = make_jwt(ao_key, claims(pid, "op@platform.test"))
    endpoints = [("GET", kek), ("GET", "/api/v1/artifact/"), ("POST", wcek_url), ("POST", crit_url),
                 ("POST", "/api/v1/data-specification/"), ("POST", "/api/v1/data-attestation/"),
                 ("POST", ds_url), ("POST", acc), ("POST", alg_url)]
    for method, path in endpoints:
        for who, tok in (("another project's member", OUT), ("an operator", OP)):
            expect(f"{method} {path} by {who} is 403", call(method, path, tok, form={"project_id": pid}), 403)
        expect(f"{method} {path} without a token is 401", call(method, path, None), 401)
    role_rules = [(crit_url, DS), ("/api/v1/data-specification/", DS), ("/api/v1/data-attestation/", AO),
                  (ds_url, AO), (acc, AO)]
    for path, tok in role_rules:
        expect(f"POST {path} by the wrong role is 403", call("POST", path, tok,
               fields=dict(meta, validation_criteria_version="v1"), files={"file_name": ("f.pdf", pdf)}), 403)

    check("an oversized upload is refused with 413 before its body is read",
          raw_status(f"POST {wcek_url} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {AO}\r\n"
                     f"Content-Type: multipart/form-data; boundary=b\r\n"
                     f"Content-Length: {65 * 1024 * 1024}\r\n\r\n") == 413)
    check("a request line with a path trick is 404",
          raw_status("GET /api/v1/../v1/key-encryption-key-download/ HTTP/1.1\r\nHost: x\r\n\r\n")
          in (400, 404))


if __name__ == "__main__":
    sys.exit(main())
