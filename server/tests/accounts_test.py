#!/usr/bin/env python3
"""escrowd accounts test: password login with the session cookie and CSRF token, /me, the
operator's organisation / user / project API, project states, metadata search, API key
registration, the static dashboard and its security headers, and TLS. Starts escrowd on free
loopback ports (traffic to 127.0.0.1 only) and stops it by PID.
Needs python3 with `requests` and `cryptography`. Env: ESCROWD_BIN, ESCROW_TEST_VECTORS,
ESCROWD_TMP; ESCROWD_PG=1 runs on PostgreSQL (see api_test.py)."""
import datetime, json, os, shutil, signal, socket, sqlite3, subprocess, sys, threading, time

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_test as A  # noqa: E402  (JWTs as the API sample makes them, check/expect)

BIN = os.environ["ESCROWD_BIN"]
VEC = os.environ["ESCROW_TEST_VECTORS"]
TMP = os.path.join(os.environ.get("ESCROWD_TMP", "/tmp"), "accounts_test")
DATA = os.path.join(TMP, "data")
KEYS = os.path.join(VEC, "keys")
PW = {"op@platform.test": "operator passphrase 1", "ao@acme.test": "ao passphrase 12",
      "ds@hosp.test": "ds passphrase 123", "ds2@two.test": "ds2 passphrase 12",
      "out@other.test": "outsider passphrase", "victim@acme.test": "victim passphrase"}
GENERIC = "the e-mail address or the password is wrong"
check = A.check
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def expect(name, r, status, contains=None):
    ok = r.status_code == status and (contains is None or contains.encode() in r.content)
    check(name, ok, f"status {r.status_code} body {r.content[:300]!r}")
    return r


def admin(*args):
    p = subprocess.run([BIN, "admin", "--data", DATA] + A.db_args() + list(args), capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def sql(query):
    """Rows of a query (text values) on whichever backend the test runs on."""
    if A.DATABASE:
        out = A.psql(A.DATABASE, query)
        return [tuple(line.split("|")) for line in out.splitlines() if line]
    con = sqlite3.connect(os.path.join(DATA, "escrowd.db"))
    try:
        return [tuple(str(v) for v in row) for row in con.execute(query)]
    finally:
        con.close()


class Server:
    def __init__(self, name, *extra, scheme="http"):
        self.log_path = os.path.join(TMP, name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, "serve", "--data", DATA, "--listen", "127.0.0.1:0",
                                      "--kek-bits", "3072"] + A.db_args() + list(extra),
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        self.base = scheme + "://" + json.loads(line)["listening"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = -9
        self.log.close()
        return rc


def login(base, email, password=None, as_json=False, **kw):
    s = requests.Session()
    body = {"email": email, "password": PW.get(email) if password is None else password}
    r = s.post(base + "/api/v1/login/", json=body, timeout=60, **kw) if as_json else \
        s.post(base + "/api/v1/login/", data=body, timeout=60, **kw)
    s.headers["X-CSRF-Token"] = (r.json() or {}).get("csrf_token", "") if r.status_code == 200 else ""
    s.last = r
    return s


def setup():
    shutil.rmtree(TMP, ignore_errors=True)
    os.makedirs(TMP)
    A.DATA = DATA
    A.fresh_database("accounts")
    for org in ("Acme AO", "Hosp DS", "DS Two", "Other Org", "Platform"):
        admin("create-org", "--name", org)
    pwfile = os.path.join(TMP, "pw")
    users = [("Platform", "op@platform.test", None, True), ("Acme AO", "ao@acme.test", "kek3072.pub.pem", False),
             ("Hosp DS", "ds@hosp.test", "kek4096.pub.pem", False), ("DS Two", "ds2@two.test", None, False),
             ("Other Org", "out@other.test", "other4096.pub.pem", False), ("Acme AO", "victim@acme.test", None, False)]
    for org, email, pub, op in users:
        with open(pwfile, "w") as f:
            f.write(PW[email] + "\n")
        a = ["create-user", "--org", org, "--email", email, "--password-file", pwfile]
        if pub:
            a += ["--public-key", os.path.join(KEYS, pub)]
        if op:
            a.append("--operator")
        rc, out, err = admin(*a)
        check("admin create-user --password-file " + email,
              rc == 0 and json.loads(out).get("password") is True, err)
    rc, out, err = admin("create-user", "--org", "Acme AO", "--email", "nopw@acme.test")
    check("a user may have no password (API keys only)", rc == 0, err)
    with open(pwfile, "w") as f:
        f.write("short\n")
    rc, out, err = admin("create-user", "--org", "Acme AO", "--email", "short@acme.test", "--password-file", pwfile)
    check("admin refuses a password under 12 characters with exit 1", rc == 1 and "12" in err, err)
    rc, out, err = admin("create-user", "--org", "Acme AO", "--email", "x@acme.test", "--password-file",
                         os.path.join(TMP, "missing"))
    check("admin: an unreadable password file is exit 2", rc == 2, err)
    with open(pwfile, "w") as f:
        f.write("a brand new passphrase\n")
    rc, out, err = admin("set-password", "--email", "nopw@acme.test", "--password-file", pwfile)
    check("admin set-password gives a user a password", rc == 0 and json.loads(out)["password"] is True, err)
    PW["nopw@acme.test"] = "a brand new passphrase"
    rc, out, err = admin("set-password", "--email", "ghost@acme.test", "--password-file", pwfile)
    check("admin set-password refuses an unknown user with exit 1", rc == 1, err)
    hashes_ = [r[0] for r in sql('SELECT password_hash FROM "user" WHERE password_hash IS NOT NULL')]
    check("passwords are stored as Argon2id hashes only",
          len(hashes_) == 7 and all(h.startswith("$argon2id$") for h in hashes_) and
          not any(p in h for h in hashes_ for p in PW.values()), hashes_[:1])
    # the other project, made by the admin command, for "another project's member"
    rc, out, err = admin("create-project", "--name", "Other Project", "--description", "unrelated",
                         "--ao-org", "Other Org", "--ds-org", "Hosp DS", "--kek-bits", "3072",
                         "--ao-user", "out@other.test", "--ds-user", "ds@hosp.test")
    check("admin create-project (the other project)", rc == 0, err)
    return json.loads(out)["id"]


def main():
    other_pid = setup()
    web = os.path.join(TMP, "web")
    os.makedirs(os.path.join(web, "assets"))
    with open(os.path.join(web, "index.html"), "w") as f:
        f.write("<!doctype html><title>escrow</title><script type=module src=/assets/app-1a2b.js></script>")
    with open(os.path.join(web, "assets", "app-1a2b.js"), "w") as f:
        f.write("console.log('escrow')")
    with open(os.path.join(web, ".env"), "w") as f:
        f.write("SECRET=1")
    with open(os.path.join(TMP, "outside.txt"), "w") as f:
        f.write("outside the web folder")
    srv = Server("escrowd", "--web", web, "--login-max-failures", "50", "--max-upload-mib", "100")
    try:
        run_main(srv.base, other_pid)
    finally:
        rc = srv.stop()
    check("escrowd stops cleanly on SIGTERM", rc == 0, rc)
    with open(srv.log_path, "rb") as f:
        logtext = f.read()
    check("a request path cannot forge a log line (control characters are escaped)",
          b"\nforged-line" not in logtext and b"\rforged-line" not in logtext and b"\\x0aforged-line" in logtext)
    check("the log holds no password, session token or CSRF token",
          not any(p.encode() in logtext for p in PW.values()) and b"escrow_session" not in logtext and
          not any(t.encode() in logtext for t in TOKENS), logtext[-300:])
    db = A.database_dump()
    check("the database holds no session token, only its hash",
          TOKENS and not any(t.encode() in db for t in TOKENS))
    check("the database holds no password", not any(p.encode() in db for p in PW.values()))

    srv = Server("escrowd-short", "--session-ttl", "5", "--login-max-failures", "3", "--max-upload-mib", "2")
    try:
        run_limits(srv.base)
    finally:
        rc = srv.stop()
    check("escrowd (short sessions) stops cleanly", rc == 0, rc)

    run_concurrent_logins()

    run_tls()
    if A.FAILS:
        print(f"{len(A.FAILS)} failed: {A.FAILS}")
        return 1
    print("all passed")
    return 0


TOKENS = []
UPLOAD_PID = []


def cookie_header(r):
    return r.headers.get("Set-Cookie", "")


def run_main(base, other_pid):
    A.BASE = base
    # --- login --------------------------------------------------------------------------------
    op = login(base, "op@platform.test")
    r = expect("the operator logs in with a form body", op.last, 200)
    check("login answers the CSRF token and the user (email, org, operator)",
          r.json()["user"] == {**r.json()["user"], "email": "op@platform.test", "org": "Platform", "operator": True}
          and len(r.json()["csrf_token"]) == 43, r.text)
    sc = cookie_header(r)
    check("the session cookie is HttpOnly, SameSite=Strict, Path=/, with an expiry, not Secure over http",
          sc.startswith("escrow_session=") and "HttpOnly" in sc and "SameSite=Strict" in sc and
          "Path=/" in sc and "Max-Age=" in sc and "Secure" not in sc, sc)
    TOKENS.append(op.cookies.get("escrow_session"))
    TOKENS.append(op.headers["X-CSRF-Token"])
    check("the session token is 256 random bits (43 base64url characters)", len(TOKENS[0]) == 43)
    ao = login(base, "ao@acme.test", as_json=True)
    expect("a user logs in with a JSON body", ao.last, 200)
    TOKENS.append(ao.cookies.get("escrow_session"))
    ds = login(base, "ds@hosp.test")
    ds2 = login(base, "ds2@two.test")
    out = login(base, "out@other.test")
    for s in (ds, ds2, out):
        expect("member logs in", s.last, 200)
    wrong = login(base, "ao@acme.test", "not the password")
    expect("a wrong password is 401", wrong.last, 401, GENERIC)
    check("a failed login sets no cookie", "escrow_session" not in cookie_header(wrong.last))
    unknown = login(base, "ghost@acme.test", "whatever password")
    expect("an unknown e-mail is 401", unknown.last, 401)
    check("unknown e-mail and wrong password answer the same body", unknown.last.content == wrong.last.content)
    nopw = login(base, "nokey@x.test", "whatever password")
    check("a user without a password gets the same answer", nopw.last.content == wrong.last.content)
    sqli = login(base, "' OR 1=1 --", "' OR '1'='1")
    check("SQL metacharacters in the login are just a wrong login", sqli.last.content == wrong.last.content)
    expect("a login posted from another site's page (Origin) is 403", requests.post(
        base + "/api/v1/login/", data={"email": "ao@acme.test", "password": PW["ao@acme.test"]},
        headers={"Origin": "https://evil.example"}), 403, "Origin")
    expect("a login from the server's own page (Origin = this server) is 200", requests.post(
        base + "/api/v1/login/", data={"email": "ao@acme.test", "password": PW["ao@acme.test"]},
        headers={"Origin": base}), 200)
    expect("a login without a password is 400",
           requests.post(base + "/api/v1/login/", data={"email": "ao@acme.test"}), 400)
    expect("a login with a nested JSON value is 400",
           requests.post(base + "/api/v1/login/", json={"email": {"$ne": 1}, "password": "x"}), 400)
    expect("a login given the password twice is 400",
           requests.post(base + "/api/v1/login/", data=[("email", "ao@acme.test"), ("password", "a"),
                                                        ("password", "b")]), 400)

    # --- the operator's API ------------------------------------------------------------------
    r = expect("the operator lists organisations", op.get(base + "/api/v1/organisation/"), 200)
    check("organisations are listed by name", [o["name"] for o in r.json()["organisations"]] ==
          ["Acme AO", "DS Two", "Hosp DS", "Other Org", "Platform"], r.text)
    r = expect("the operator creates an organisation", op.post(base + "/api/v1/organisation/",
                                                             data={"name": "New Org"}), 201)
    expect("a duplicate organisation is 409", op.post(base + "/api/v1/organisation/", data={"name": "New Org"}), 409)
    expect("an organisation name with control characters is 400",
           op.post(base + "/api/v1/organisation/", data={"name": "a\x01b"}), 400)
    r = expect("the operator creates a user with a password", op.post(base + "/api/v1/user/", data={
        "org": "New Org", "email": "new@new.test", "password": "new user passphrase"}), 201)
    check("the new user has no API key yet", r.json()["api_key"] is False, r.text)
    expect("a new user's password must have 12 characters", op.post(base + "/api/v1/user/", data={
        "org": "New Org", "email": "new2@new.test", "password": "short"}), 400)
    expect("a user of an unknown organisation is 404", op.post(base + "/api/v1/user/", data={
        "org": "Nope' OR '1'='1", "email": "n3@new.test"}), 404)
    expect("a duplicate user is 409", op.post(base + "/api/v1/user/", data={
        "org": "New Org", "email": "new@new.test"}), 409)
    expect("a user with a bad public key is 400", op.post(base + "/api/v1/user/", data={
        "org": "New Org", "email": "n4@new.test", "public_key": "not a key"}), 400)
    expect("operator must be true or false", op.post(base + "/api/v1/user/", data={
        "org": "New Org", "email": "n5@new.test", "operator": "yes"}), 400)
    expect("the new user logs in", login(base, "new@new.test", "new user passphrase").last, 200)
    r = expect("the operator lists users", op.get(base + "/api/v1/user/"), 200)
    check("the user listing holds no password hash or key", "argon2" not in r.text and "BEGIN" not in r.text
          and "new@new.test" in r.text)
    r = expect("the operator creates a project with one AO and two DS organisations", op.post(
        base + "/api/v1/project/", data=[("name", "Covid Detect"), ("description", "chest x-ray triage"),
                                         ("ao_org", "Acme AO"), ("ds_org", "Hosp DS"), ("ds_org", "DS Two"),
                                         ("user", "ao@acme.test"), ("user", "ds@hosp.test"),
                                         ("user", "ds2@two.test")]), 201)
    pid = r.json()["id"]
    check("the project's parties and KEKs", [p["role"] for p in r.json()["parties"]] == ["ao", "ds", "ds"], r.text)
    expect("a project without a DS organisation is 400", op.post(base + "/api/v1/project/", data={
        "name": "x", "ao_org": "Acme AO"}), 400)
    expect("a project with an unknown TEE is 400", op.post(base + "/api/v1/project/", data={
        "name": "x", "ao_org": "Acme AO", "ds_org": "Hosp DS", "tee": "sgx"}), 400)
    expect("a project member outside the parties is 400", op.post(base + "/api/v1/project/", data={
        "name": "x", "ao_org": "Acme AO", "ds_org": "Hosp DS", "user": "out@other.test"}), 400)
    r = expect("the operator adds a user to a project", op.post(base + "/api/v1/project-user/", data={
        "project_id": pid, "email": "victim@acme.test"}), 201)
    check("the member's role comes from their organisation", r.json()["role"] == "ao", r.text)
    expect("adding a member twice is 409", op.post(base + "/api/v1/project-user/", data={
        "project_id": pid, "email": "victim@acme.test"}), 409)
    expect("a user whose organisation is not a party cannot be added (409)", op.post(
        base + "/api/v1/project-user/", data={"project_id": pid, "email": "out@other.test"}), 409)
    expect("adding to an unknown project is 404", op.post(base + "/api/v1/project-user/", data={
        "project_id": "nope", "email": "ao@acme.test"}), 404)

    # --- /me -----------------------------------------------------------------------------------
    r = expect("GET /me/ with the session", ao.get(base + "/api/v1/me/"), 200)
    me = r.json()
    check("/me/ names the user, org, operator flag and initials",
          me["user"]["email"] == "ao@acme.test" and me["user"]["org"] == "Acme AO" and
          me["user"]["operator"] is False and me["initials"] == "A", r.text)
    check("/me/ answers the session's CSRF token (for a reloaded page)", me["csrf_token"] == ao.headers["X-CSRF-Token"])
    p = me["projects"][0] if me["projects"] else {}
    check("/me/ lists the caller's project with its fields",
          [x["id"] for x in me["projects"]] == [pid] and p["name"] == "Covid Detect" and
          p["description"] == "chest x-ray triage" and p["state"] == "Active" and p["training"] is False and
          p["tee"] == "sandbox" and p["simulated_tee"] is True and p["role"] == "ao" and
          isinstance(p["created"], int), r.text)
    check("/me/ lists collaborators with organisation names and roles",
          [(c["org"], c["role"]) for c in p.get("collaborators", [])] ==
          [("Acme AO", "ao"), ("DS Two", "ds"), ("Hosp DS", "ds")], r.text)
    check("/me/ lists the members' initials",
          sorted(m["initials"] for m in p.get("members", [])) == ["A", "D", "D", "V"], r.text)
    r = expect("a DS's /me/", ds.get(base + "/api/v1/me/"), 200)
    projs = r.json()["projects"]
    check("the DS's role is ds and it sees both of its projects, newest first",
          sorted((x["id"], x["role"]) for x in projs) == sorted([(pid, "ds"), (other_pid, "ds")]) and
          [x["created"] for x in projs] == sorted((x["created"] for x in projs), reverse=True), r.text)
    expect("/me/ without a session is 401", requests.get(base + "/api/v1/me/"), 401)
    expect("/me/ with a forged session is 401",
           requests.get(base + "/api/v1/me/", cookies={"escrow_session": "A" * 43}), 401)
    expect("/me/ with a malformed session is 401",
           requests.get(base + "/api/v1/me/", cookies={"escrow_session": "'; DROP TABLE user; --"}), 401)
    ao_jwt = A.make_jwt(A.load_key("kek3072.key.pem"), A.claims(pid, "ao@acme.test"))
    r = expect("/me/ with a Bearer JWT", requests.get(base + "/api/v1/me/", headers={"Authorization": "Bearer " + ao_jwt}), 200)
    check("a JWT's /me/ carries no CSRF token", "csrf_token" not in r.json())

    # --- CSRF and project-scoped endpoints with the cookie ----------------------------------------
    crit = json.dumps({"accuracy": {"type": "float", "min": 0, "max": 1}}).encode()
    meta = {"project_id": pid, "name": "Triage criteria", "description": "accuracy bounds",
            "version_tag": "crit-v1", "version_description": "first cut"}
    files = {"file_name": ("criteria.json", crit)}
    bare = requests.Session()
    bare.cookies.update(ao.cookies)
    expect("a POST with the cookie and no X-CSRF-Token is 403",
           bare.post(base + "/api/v1/validation-criteria/", data=meta, files=files), 403, "CSRF")
    expect("a POST with the cookie and a wrong X-CSRF-Token is 403",
           bare.post(base + "/api/v1/validation-criteria/", data=meta, files=files,
                     headers={"X-CSRF-Token": ds.headers["X-CSRF-Token"]}), 403, "CSRF")
    expect("logout also needs the CSRF token", bare.post(base + "/api/v1/logout/"), 403)
    expect("an upload with the cookie needs project_id (400)", ao.post(
        base + "/api/v1/validation-criteria/", data={k: v for k, v in meta.items() if k != "project_id"},
        files=files), 400, "project_id")
    expect("the AO uploads criteria with the cookie and CSRF token",
           ao.post(base + "/api/v1/validation-criteria/", data=meta, files=files), 201)
    expect("with the cookie, another project's id is 403",
           ao.get(base + "/api/v1/artifact/", params={"project_id": other_pid}), 403)
    expect("with the cookie, an unknown project is 403",
           ao.get(base + "/api/v1/artifact/", params={"project_id": "x' OR '1'='1"}), 403)
    r = expect("the DS lists the project with the cookie", ds.get(base + "/api/v1/artifact/", params={"project_id": pid}), 200)
    check("the DS sees the AO's criteria", [v["artifact_type"] for v in r.json()["versions"]] == ["validation_criteria"], r.text)
    expect("the DS uploads an attestation with the cookie", ds.post(base + "/api/v1/data-attestation/", data={
        "project_id": pid, "name": "Hosp attestation", "description": "IRB", "version_tag": "att-1",
        "version_description": "signed"}, files={"file_name": ("att.pdf", PDF)}), 201)
    expect("the DS's KEK download with the cookie", ds.get(base + "/api/v1/key-encryption-key-download/",
                                                           params={"project_id": pid}), 200, "key content")
    r = expect("JWT callers keep sub: a JWT with another project_id is 403", requests.get(
        base + "/api/v1/artifact/", params={"project_id": other_pid}, headers={"Authorization": "Bearer " + ao_jwt}), 403)

    # --- authorisation matrix of the new endpoints ---------------------------------------------
    anon = requests.Session()
    who = {"AO": ao, "DS": ds, "outsider": login(base, "new@new.test", "new user passphrase"),
           "another project's member": out}
    operator_only = [("GET", "/api/v1/organisation/", {}), ("POST", "/api/v1/organisation/", {"name": "Z Org"}),
                     ("GET", "/api/v1/user/", {}),
                     ("POST", "/api/v1/user/", {"org": "New Org", "email": "z@new.test"}),
                     ("POST", "/api/v1/project/", {"name": "Z", "ao_org": "Acme AO", "ds_org": "Hosp DS"}),
                     ("POST", "/api/v1/project-state/", {"project_id": pid, "state": "Paused"}),
                     ("POST", "/api/v1/project-user/", {"project_id": pid, "email": "ao@acme.test"})]
    for method, path, data in operator_only:
        for name, s in who.items():
            r = s.get(base + path, params=data) if method == "GET" else s.post(base + path, data=data)
            expect(f"{method} {path} by {name} is 403", r, 403)
        r = anon.get(base + path) if method == "GET" else anon.post(base + path, data=data)
        expect(f"{method} {path} without credentials is 401", r, 401)
    for name, s, status in (("AO", ao, 200), ("DS", ds, 200), ("operator", op, 200), ("outsider", who["outsider"], 404),
                            ("another project's member", out, 404)):
        expect(f"GET /project/?project_id by {name} is {status}",
               s.get(base + "/api/v1/project/", params={"project_id": pid}), status)
    for name, s, listing in (("AO", ao, "/api/v1/me/"), ("operator", op, "/api/v1/project/")):
        page = s.get(base + "/api/v1/project/", params={"project_id": pid}).json()
        listed = [p for p in s.get(base + listing).json()["projects"] if p["id"] == pid]
        check(f"the project page the {name} reads is the project as {listing} lists it",
              [page] == listed and len(page["members"]) == 4 and len(page["collaborators"]) == 3,
              json.dumps(page))
    expect("GET /project/ without credentials is 401", anon.get(base + "/api/v1/project/"), 401)
    r = expect("the operator lists every project", op.get(base + "/api/v1/project/"), 200)
    check("the operator's listing holds both projects", {p["id"] for p in r.json()["projects"]} == {pid, other_pid})
    r = expect("another project's member lists projects", out.get(base + "/api/v1/project/"), 200)
    check("a member lists only their own projects", [p["id"] for p in r.json()["projects"]] == [other_pid], r.text)

    # --- search (manual §10.2) -------------------------------------------------------------------
    def hits(s, q):
        r = s.get(base + "/api/v1/search/", params={"q": q})
        return r.status_code, [(h["type"], h["name"]) for h in (r.json().get("results", []) if r.status_code == 200 else [])]
    check("search finds a project by its description", hits(ao, "X-RAY") == (200, [("project", "Covid Detect")]))
    check("search finds the AO's criteria by version description for the DS",
          hits(ds, "first cut") == (200, [("validation_criteria", "Triage criteria")]))
    check("search finds a version by its tag", hits(ao, "crit-v1")[1] == [("validation_criteria", "Triage criteria")])
    check("the AO finds the DS's attestation", hits(ao, "IRB")[1] == [("data_attestation", "Hosp attestation")])
    check("another DS of the project does not find the first DS's attestation", hits(ds2, "IRB") == (200, []))
    check("another project's member finds nothing of this project", hits(out, "Covid") == (200, []))
    check("another project's member finds their own project", hits(out, "unrelated") == (200, [("project", "Other Project")]))
    check("SQL metacharacters in q match literally", hits(ao, "%' OR 1=1 --") == (200, []))
    check("% and _ in q are literal characters", hits(ao, "%") == (200, []) and hits(ao, "_") == (200, []))
    check("search without q is 400", hits(ao, "")[0] == 400)
    check("a q over 200 characters is 400", hits(ao, "x" * 201)[0] == 400)
    expect("search without credentials is 401", anon.get(base + "/api/v1/search/", params={"q": "Covid"}), 401)
    r = requests.get(base + "/api/v1/search/", params={"q": "Covid"}, headers={"Authorization": "Bearer " + ao_jwt})
    check("search with a Bearer JWT", r.status_code == 200 and len(r.json()["results"]) == 1, r.text)
    # what a user may see is chosen before the 100-result limit, not after it: the second DS's
    # one match is older than 100 of the first DS's, which it may not see
    def attest(s, tag):
        return s.post(base + "/api/v1/data-attestation/", data={
            "project_id": pid, "name": "Bulk attestation", "description": "bulk-needle",
            "version_tag": tag, "version_description": "bulk"}, files={"file_name": ("att.pdf", PDF)})
    expect("the second DS uploads an attestation", attest(ds2, "bulk-ds2"), 201)
    time.sleep(1.1)  # created_at has whole seconds: the first DS's are newer
    codes = [attest(ds, f"bulk-{i}").status_code for i in range(100)]
    check("the first DS uploads 100 attestations", codes == [201] * 100, codes)
    check("the second DS finds its one match behind 100 newer it may not see",
          hits(ds2, "bulk-needle") == (200, [("data_attestation", "Bulk attestation")]))
    check("the first DS finds its 100, not the second DS's", len(hits(ds, "bulk-needle")[1]) == 100)
    r = ao.get(base + "/api/v1/search/", params={"q": "bulk-needle"})
    check("the AO sees both parties' matches, at most 100",
          r.status_code == 200 and len(r.json()["results"]) == 100, r.text[:200])

    # --- states (manual §10.4) --------------------------------------------------------------------
    def state(s, value, project=pid):
        return s.post(base + "/api/v1/project-state/", data={"project_id": project, "state": value})
    up = lambda tag: ao.post(base + "/api/v1/validation-criteria/", data=dict(meta, version_tag=tag), files=files)
    r = expect("the operator pauses the project", state(op, "Paused"), 200)
    check("the answer names both states", r.json()["previous_state"] == "Active" and r.json()["state"] == "Paused")
    expect("an upload to a Paused project is 409", up("crit-p"), 409, "Paused")
    expect("a JWT upload to a Paused project is 409", requests.post(
        base + "/api/v1/validation-criteria/", data=dict(meta, version_tag="crit-p2"), files=files,
        headers={"Authorization": "Bearer " + ao_jwt}), 409, "Paused")
    r = expect("a Paused project can still be read", ds.get(base + "/api/v1/artifact/", params={"project_id": pid}), 200)
    check("the listing shows the Paused state", r.json()["project"]["state"] == "Paused")
    check("a Paused project is still searchable", hits(ds, "x-ray")[1] == [("project", "Covid Detect")])
    expect("pausing a Paused project is 409", state(op, "Paused"), 409)
    expect("an unknown state is 400", state(op, "Archived"), 400)
    expect("a state change of an unknown project is 404", state(op, "Paused", "nope"), 404)
    expect("the operator resumes the project", state(op, "Active"), 200)
    expect("uploads work again once Active", up("crit-a"), 201)
    expect("the operator deactivates the project", state(op, "Deactivated"), 200)
    expect("an upload to a Deactivated project is 409", up("crit-d"), 409, "Deactivated")
    expect("a Deactivated project stays Deactivated (409)", state(op, "Active"), 409, "final")
    check("a Deactivated project is still searchable", hits(ao, "x-ray")[1] == [("project", "Covid Detect")])
    assert all(c in "0123456789abcdef-" for c in pid)  # spliced into the test's own query below
    actions = [r[0] for r in sql(f"SELECT action FROM audit WHERE project_id = '{pid}' AND action LIKE "
                                 "'project.state.%' ORDER BY seq")]
    logins = int(sql("SELECT COUNT(*) FROM audit WHERE action = 'session.login'")[0][0])
    check("each state change is audited", actions == ["project.state.Paused", "project.state.Active",
                                                      "project.state.Deactivated"], actions)
    check("logins are audited", logins >= 7, logins)

    # --- state changes sent at once: each is checked against the state it changes ---------------
    r = expect("the operator creates a project for the state race", op.post(
        base + "/api/v1/project/", data=[("name", "State race"), ("ao_org", "Acme AO"), ("ds_org", "Hosp DS")]), 201)
    race_pid = r.json()["id"]
    jar, csrf = op.cookies.get_dict(), op.headers["X-CSRF-Token"]
    for target in ("Paused", "Deactivated"):
        answers = concurrently(8, lambda i: requests.post(
            base + "/api/v1/project-state/", data={"project_id": race_pid, "state": target},
            cookies=jar, headers={"X-CSRF-Token": csrf}))
        codes = sorted(a.status_code for a in answers)
        check(f"8 requests at once to make a project {target}: one changes it, 7 are 409",
              codes == [200] + [409] * 7, [(a.status_code, a.text[:80]) for a in answers])
    got = expect("the project is Deactivated", op.get(base + "/api/v1/project/", params={"project_id": race_pid}), 200)
    check("the project ends Deactivated", got.json()["state"] == "Deactivated", got.text)
    actions = [r[0] for r in sql(f"SELECT action FROM audit WHERE project_id = '{race_pid}' AND action LIKE "
                                 "'project.state.%' ORDER BY seq")]
    check("the audit records each change once", actions == ["project.state.Paused", "project.state.Deactivated"], actions)

    # --- uploads racing a pause: none lands after it ------------------------------------------
    r = expect("the operator creates a project for the upload race", op.post(
        base + "/api/v1/project/", data=[("name", "Upload race"), ("ao_org", "Acme AO"), ("ds_org", "Hosp DS")]), 201)
    up_pid = r.json()["id"]
    assert all(c in "0123456789abcdef-" for c in up_pid)
    expect("the AO joins it", op.post(base + "/api/v1/project-user/", data={"project_id": up_pid,
                                                                          "email": "ao@acme.test"}), 201)
    ao_jar, ao_csrf = ao.cookies.get_dict(), ao.headers["X-CSRF-Token"]

    def racer(i):
        if i == 6:
            return requests.post(base + "/api/v1/project-state/", data={"project_id": up_pid, "state": "Paused"},
                                 cookies=jar, headers={"X-CSRF-Token": csrf})
        return requests.post(base + "/api/v1/validation-criteria/", data=dict(meta, project_id=up_pid, version_tag=f"race-{i}"),
                             files=files, cookies=ao_jar, headers={"X-CSRF-Token": ao_csrf})
    answers = concurrently(13, racer)
    check("the pause sent among 12 uploads is done", answers[6].status_code == 200, answers[6].text)
    check("each upload is stored (201) or refused as Paused (409)",
          all(a.status_code == 201 or (a.status_code == 409 and "Paused" in a.text) for i, a in enumerate(answers) if i != 6),
          [(a.status_code, a.text[:60]) for a in answers])
    order = [r[0] for r in sql(f"SELECT action FROM audit WHERE project_id = '{up_pid}' AND (action LIKE "
                               "'project.state.%' OR action LIKE '%.upload') ORDER BY seq")]
    stored = sum(1 for i, a in enumerate(answers) if i != 6 and a.status_code == 201)
    check("no upload is recorded after the pause, and every 201 is recorded",
          order[-1:] == ["project.state.Paused"] and order.count("validation_criteria.upload") == stored, order)

    # --- API keys ---------------------------------------------------------------------------------
    with open(os.path.join(KEYS, "other4096.pub.pem")) as f:
        other_pub = f.read()
    with open(os.path.join(KEYS, "weak2048.pub.pem")) as f:
        weak_pub = f.read()
    r = expect("a user registers their API key", ds2.post(base + "/api/v1/api-key/", data={"public_key": weak_pub}), 200)
    check("the answer has the key's fingerprint, not the key", "BEGIN" not in r.text and len(r.json()["public_key_sha256"]) == 64)
    weak = serialization.load_pem_private_key(open(os.path.join(KEYS, "weak2048.key.pem"), "rb").read(), None)
    tok = A.make_jwt(weak, A.claims(pid, "ds2@two.test"))
    expect("the registered key signs the user's API tokens", requests.get(
        base + "/api/v1/key-encryption-key-download/", headers={"Authorization": "Bearer " + tok}), 200)
    expect("a non-RSA key is refused (400)", ds2.post(base + "/api/v1/api-key/", files={
        "file_name": ("k.pem", open(os.path.join(KEYS, "ec256.pub.pem"), "rb").read())}), 400)
    expect("garbage is refused (400)", ds2.post(base + "/api/v1/api-key/", data={"public_key": "' OR 1=1 --"}), 400)
    expect("an API key upload as a file part", ds2.post(base + "/api/v1/api-key/", files={
        "file_name": ("k.pem", other_pub.encode())}), 200)
    expect("the replaced key no longer signs tokens", requests.get(
        base + "/api/v1/key-encryption-key-download/", headers={"Authorization": "Bearer " + tok}), 401)
    expect("registering a key needs credentials (401)", anon.post(base + "/api/v1/api-key/", data={"public_key": weak_pub}), 401)
    expect("the AO's own key is untouched by the DS's registration", requests.get(
        base + "/api/v1/key-encryption-key-download/", headers={"Authorization": "Bearer " + ao_jwt}), 200)

    # --- static dashboard and headers ---------------------------------------------------------------
    r = expect("GET / serves the dashboard", anon.get(base + "/"), 200, "<!doctype html>")
    check("index.html is text/html and revalidated", r.headers["Content-Type"].startswith("text/html") and
          r.headers["Cache-Control"] == "no-cache", r.headers)
    csp = r.headers.get("Content-Security-Policy", "")
    check("the CSP forbids inline script and framing", "script-src 'self'" in csp and "unsafe-inline" not in csp
          and "frame-ancestors 'none'" in csp, csp)
    check("nosniff and frame headers", r.headers.get("X-Content-Type-Options") == "nosniff" and
          r.headers.get("X-Frame-Options") == "DENY")
    r = expect("a hashed asset", anon.get(base + "/assets/app-1a2b.js"), 200, "console.log")
    check("assets are JavaScript and cached immutably", r.headers["Content-Type"].startswith("text/javascript")
          and "immutable" in r.headers["Cache-Control"], r.headers)
    r = expect("an app route falls back to index.html", anon.get(base + "/projects/" + pid), 200, "<!doctype html>")
    expect("a missing asset is 404", anon.get(base + "/assets/missing.js"), 404)
    expect("hidden files are not served", anon.get(base + "/.env"), 404)
    r = anon.head(base + "/assets/app-1a2b.js")
    check("HEAD answers the headers without a body", r.status_code == 200 and r.content == b"" and
          r.headers.get("Content-Length") == str(len("console.log('escrow')")), r.headers)
    for trick in ("/../outside.txt", "/assets/../../outside.txt", "/%2e%2e/outside.txt", "/assets/%2e%2e/%2e%2e/outside.txt",
                  "/..%2foutside.txt", "/assets/..%5c..%5coutside.txt"):
        st = A.raw_status(f"GET {trick} HTTP/1.1\r\nHost: x\r\n\r\n")
        check(f"path trick {trick} does not leave the web folder", st in (400, 404), st)
    expect("a POST to a page is not served (404)", anon.post(base + "/", data={"a": "b"}), 404)
    # bodies read into memory before authentication (forms, JSON) are at most 1 MiB, whatever
    # --max-upload-mib allows a streamed multipart upload
    def chunks():
        for _ in range(32):
            yield b"x" * 65536
    expect("a chunked form body over 1 MiB is 413", requests.post(
        base + "/api/v1/login/", data=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}),
        413, "1 MiB")
    host, port = base[len("http://"):].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=20) as c:
            c.sendall(b"POST /api/v1/login/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 2097152\r\n\r\n")
            head = c.recv(4096)
    except OSError as e:  # a server that waits for the body: no answer
        head = repr(e).encode()
    check("a JSON body announced over 1 MiB is 413 before it is sent", head.startswith(b"HTTP/1.1 413"), head[:80])
    # a streamed upload goes to disk before its handler runs: credentials are checked first
    for name, auth in (("no credentials", b""), ("a forged session", b"Cookie: escrow_session=" + b"A" * 43 + b"\r\n"),
                       ("a bad token", b"Authorization: Bearer x.y.z\r\n")):
        try:
            with socket.create_connection((host, int(port)), timeout=20) as c:
                c.sendall(b"POST /api/v1/data-attestation/ HTTP/1.1\r\nHost: x\r\n" + auth +
                          b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 3145728\r\n\r\n")
                head = c.recv(4096)
        except OSError as e:
            head = repr(e).encode()
        check(f"a streamed upload with {name} is 401 before its body is read",
              head.startswith(b"HTTP/1.1 401"), head[:80])
    for path in ("/x%0Aforged-line", "/api/v1/x%0d%0Aforged-line"):
        A.raw_status(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
    r = expect("an unknown API path is JSON 404, not the app", anon.get(base + "/api/v1/nope/"), 404, "no such endpoint")
    check("API answers carry the security headers too", r.headers.get("X-Frame-Options") == "DENY" and
          "frame-ancestors" in r.headers.get("Content-Security-Policy", "") and r.headers["Cache-Control"] == "no-store")

    # --- streamed uploads (bodies over 1 MiB) ------------------------------------------------------
    import hashlib
    big_pdf = PDF + os.urandom(3 * 1024 * 1024)
    r = expect("a 3 MiB attestation is streamed to the blob folder and recorded", ds.post(
        base + "/api/v1/data-attestation/", data={"project_id": pid, "name": "Big attestation",
                                                  "description": "scanned", "version_tag": "att-big",
                                                  "version_description": "v"},
        files={"file_name": ("big.pdf", big_pdf)}), 409, "Deactivated")
    # the project is Deactivated by now: make a fresh one for the uploads
    r = op.post(base + "/api/v1/project/", data=[("name", "Uploads"), ("ao_org", "Acme AO"),
                                                 ("ds_org", "Hosp DS"), ("user", "ao@acme.test"),
                                                 ("user", "ds@hosp.test")])
    upid = r.json()["id"]
    UPLOAD_PID.append(upid)
    meta2 = {"project_id": upid, "name": "Big attestation", "description": "scanned",
             "version_tag": "att-big", "version_description": "v"}
    r = expect("a 3 MiB attestation is streamed and stored", ds.post(
        base + "/api/v1/data-attestation/", data=meta2, files={"file_name": ("big.pdf", big_pdf)}), 201)
    check("the streamed file's SHA-256 is the content's", r.json().get("sha256") == hashlib.sha256(big_pdf).hexdigest(), r.text)
    blob = os.path.join(DATA, "blobs", r.json()["sha256"][:2], r.json()["sha256"])
    check("the stored blob is the whole file", os.path.exists(blob) and os.path.getsize(blob) == len(big_pdf))
    r = expect("a streamed upload keeps its text fields", ds.get(base + "/api/v1/artifact/", params={"project_id": upid}), 200)
    check("name, tag and description survive streaming", any(v["version_tag"] == "att-big" and v["description"] == "scanned"
                                                               for v in r.json()["versions"]), r.text)
    huge = b"%PDF-" + bytes(65 * 1024 * 1024)
    expect("a streamed specification over 64 MiB is 413", ao.post(
        base + "/api/v1/data-specification/", data=dict(meta2, name="Huge spec", version_tag="s-huge"),
        files={"file_name": ("huge.pdf", huge)}), 413, "64 MiB")
    zipish = b"PK\x03\x04" + bytes(65 * 1024 * 1024)
    expect("a streamed algorithm over 64 MiB reaches the algorithm rules (no WCEK yet: 409)", ao.post(
        base + "/api/v1/algorithm/", data=dict(meta2, name="Big model", version_tag="alg-big",
                                               algorithm_type="validation", data_attestation_version="att-big",
                                               validation_criteria_version="crit-v1"),
        files={"file_name": ("model.zip", zipish)}), 409, "WCEK")
    zh = hashlib.sha256(zipish).hexdigest()
    check("a refused streamed algorithm is not kept in the blob folder",
          not os.path.exists(os.path.join(DATA, "blobs", zh[:2], zh)))
    anon_big = PDF + bytes(2 * 1024 * 1024)
    ah = hashlib.sha256(anon_big).hexdigest()
    expect("a streamed upload without credentials is 401", requests.post(
        base + "/api/v1/data-attestation/", data=meta2, files={"file_name": ("a.pdf", anon_big)}), 401)
    check("an unauthenticated streamed upload leaves no blob",
          not os.path.exists(os.path.join(DATA, "blobs", ah[:2], ah)))
    bad = b"--XyZ-boundary\r\nContent-Disposition: form-data; name=\"file_name\"; filename=\"x.pdf\"\r\n\r\n" + bytes(2 * 1024 * 1024)
    expect("a streamed body without its closing boundary is 400", ds.post(
        base + "/api/v1/data-attestation/", params={"project_id": upid}, data=bad,
        headers={"Content-Type": "multipart/form-data; boundary=XyZ-boundary"}), 400, "closing boundary")
    two = (b"--XyZ-boundary\r\nContent-Disposition: form-data; name=\"file_name\"; filename=\"a.pdf\"\r\n\r\n" + PDF +
           bytes(1024 * 1024) + b"\r\n--XyZ-boundary\r\nContent-Disposition: form-data; name=\"file_name\"; "
           b"filename=\"b.pdf\"\r\n\r\n" + PDF + b"\r\n--XyZ-boundary--\r\n")
    expect("two files in one streamed body are 400", ds.post(
        base + "/api/v1/data-attestation/", params={"project_id": upid}, data=two,
        headers={"Content-Type": "multipart/form-data; boundary=XyZ-boundary"}), 400, "one file")
    tmps = [n for n in os.listdir(os.path.join(DATA, "blobs")) if n.startswith(".tmp-")]
    check("refused streamed uploads leave no temporary file", tmps == [], tmps)

    # --- logout -------------------------------------------------------------------------------------
    old = ds.cookies.get("escrow_session")
    r = expect("logout", ds.post(base + "/api/v1/logout/"), 200)
    check("logout clears the cookie", "Max-Age=0" in cookie_header(r), cookie_header(r))
    expect("the ended session is refused (401)",
           requests.get(base + "/api/v1/me/", cookies={"escrow_session": old}), 401)
    expect("logout without a session is 401", anon.post(base + "/api/v1/logout/"), 401)
    expect("other sessions of other users go on", ao.get(base + "/api/v1/me/"), 200)


def no_tmp_files():
    d = os.path.join(DATA, "blobs")
    return [] if not os.path.isdir(d) else [n for n in os.listdir(d) if n.startswith(".tmp-")]


def run_limits(base):
    # --- oversized streamed uploads (--max-upload-mib 2) -----------------------------------------
    jwt = A.make_jwt(A.load_key("kek4096.key.pem"), A.claims(UPLOAD_PID[0], "ds@hosp.test"))
    before = sum(len(f) for _, _, f in os.walk(os.path.join(DATA, "blobs")))

    def chunks():
        yield (b"--XyZ-boundary\r\nContent-Disposition: form-data; name=\"file_name\"; filename=\"x.pdf\"\r\n\r\n" + PDF)
        for _ in range(12):
            yield bytes(256 * 1024)
        yield b"\r\n--XyZ-boundary--\r\n"
    r = requests.post(base + "/api/v1/data-attestation/", data=chunks(),
                      headers={"Authorization": "Bearer " + jwt, "Content-Type": "multipart/form-data; boundary=XyZ-boundary"})
    expect("a chunked upload (no Content-Length) over --max-upload-mib is 413", r, 413)
    after = sum(len(f) for _, _, f in os.walk(os.path.join(DATA, "blobs")))
    check("an oversized upload leaves nothing behind (no blob, no temporary file)",
          after == before and no_tmp_files() == [], (before, after, no_tmp_files()))
    expect("a Content-Length over --max-upload-mib is 413 at once", requests.post(
        base + "/api/v1/data-attestation/", data=b"x" * (3 * 1024 * 1024),
        headers={"Authorization": "Bearer " + jwt, "Content-Type": "multipart/form-data; boundary=XyZ-boundary"}), 413)
    host, port = base[len("http://"):].split(":")
    for _ in range(3):  # the connection's end is noticed at once, not at its 60 s timeout
        with socket.create_connection((host, int(port)), timeout=10) as c:
            c.sendall((f"POST /api/v1/data-attestation/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {jwt}\r\n"
                       "Content-Type: multipart/form-data; boundary=XyZ-boundary\r\nContent-Length: 1900000\r\n\r\n"
                       "--XyZ-boundary\r\nContent-Disposition: form-data; name=\"file_name\"; filename=\"x.pdf\"\r\n\r\n").encode()
                      + PDF + bytes(1024 * 1024))
    left = ["?"]
    for _ in range(100):
        left = no_tmp_files()
        if not left:
            break
        time.sleep(0.1)
    check("3 uploads cut off by the client leave no temporary file", left == [], left)

    # --- session expiry (--session-ttl 5; expiry is counted in whole seconds): poll, never assert on time ----------------------------
    s = login(base, "ao@acme.test")
    expect("a short session starts valid", s.get(base + "/api/v1/me/"), 200)
    status = 200
    for _ in range(200):
        status = s.get(base + "/api/v1/me/").status_code
        if status != 200:
            break
        time.sleep(0.1)
    check("an expired session is refused with 401", status == 401, status)
    # --- a new password ends the user's sessions (e.g. after a stolen one is reset) -------------
    s = login(base, "ds2@two.test")
    expect("a session before the password is set again", s.get(base + "/api/v1/me/"), 200)
    pwfile = os.path.join(TMP, "pw")
    with open(pwfile, "w") as f:
        f.write(PW["ds2@two.test"] + "\n")
    rc, out, err = admin("set-password", "--email", "ds2@two.test", "--password-file", pwfile)
    check("admin set-password while escrowd runs", rc == 0, err)
    expect("admin set-password ends the user's sessions (401)", s.get(base + "/api/v1/me/"), 401)
    expect("the user logs in again with the password", login(base, "ds2@two.test").last, 200)
    # --- rate limit (--login-max-failures 3): per account, then per address ----------------------
    for i in range(3):
        expect(f"wrong password {i + 1} for the victim", login(base, "victim@acme.test", "wrong password!").last, 401)
    expect("the account is locked after 3 failures, even with the right password (429)",
           login(base, "victim@acme.test").last, 429)
    expect("another account from the same address still logs in", login(base, "ds@hosp.test").last, 200)
    for i in range(9):
        login(base, f"nobody{i}@acme.test", "wrong password!")
    expect("after 4 x 3 failures from one address every login from it is 429",
           login(base, "ds2@two.test").last, 429)


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return -1


def concurrently(n, fn):
    """fn(i) for i in 0..n-1, all at once (one thread each); the answers in order."""
    out = [None] * n
    gate = threading.Barrier(n)

    def one(i):
        gate.wait()
        out[i] = fn(i)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def run_concurrent_logins():
    # each password check holds 64 MiB (Argon2id, interactive limits): logins sent at once
    # must not each get their own, or a few hundred connections exhaust the server's memory
    srv = Server("escrowd-logins", "--login-max-failures", "50")
    try:
        base = srv.base
        before = peak_rss_mib(srv.proc.pid)
        codes = concurrently(24, lambda i: login(base, f"crowd{i}@acme.test", "wrong password!").last.status_code)
        check("24 logins at once are each answered (401)", codes == [401] * 24, codes)
        peak = peak_rss_mib(srv.proc.pid)
        check("24 logins at once do not hash 24 passwords at once (peak memory under 1 GiB)",
              0 < peak < 1024, f"peak {peak} MiB, {before} MiB before")
        # password checks have workers of their own: a crowd of logins (more than every
        # worker escrowd has) does not hold up other requests. Ordering, not timing: a read
        # sent once the logins are waits for at most two rounds of the 4 password workers (on
        # a loaded machine), where sharing the other workers' queue it would wait for every
        # login sent before it to be taken, i.e. for 9 or more of them to be answered.
        done = [None] * 16

        def slow_login(i):
            code = login(base, f"crowd{i}@acme.test", "wrong password!").last.status_code
            done[i] = (code, time.monotonic())
        ts = [threading.Thread(target=slow_login, args=(i,)) for i in range(16)]
        for t in ts:
            t.start()
        time.sleep(0.05)  # the logins sent
        health = requests.get(base + "/healthz", timeout=60)
        read_at = time.monotonic()
        for t in ts:
            t.join()
        before = sum(1 for d in done if d[1] < read_at)
        check("a request sent while 16 logins are under way is answered before 9 of them are",
              health.status_code == 200 and all(d[0] == 401 for d in done) and before <= 8,
              (health.status_code, [d[0] for d in done], before))
    finally:
        rc = srv.stop()
    check("escrowd (concurrent logins) stops cleanly", rc == 0, rc)
    # the failure count is taken before the password is checked: attempts sent at once cannot
    # all pass the limit before the first of them is counted
    srv = Server("escrowd-race", "--login-max-failures", "3")
    try:
        base = srv.base
        codes = concurrently(12, lambda i: login(base, "victim@acme.test", "wrong password!").last.status_code)
        check("12 wrong passwords at once for one account: 3 are checked (401), 9 refused (429)",
              sorted(codes) == [401] * 3 + [429] * 9, codes)
        expect("the account is then locked, even with the right password (429)",
               login(base, "victim@acme.test").last, 429)
        expect("the address is not locked by the refused attempts", login(base, "ds@hosp.test").last, 200)
    finally:
        rc = srv.stop()
    check("escrowd (login race) stops cleanly", rc == 0, rc)


def make_cert(d):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    import ipaddress
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cp, kp = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    with open(cp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(kp, 0o600)
    return cp, kp


def run_tls():
    cp, kp = make_cert(TMP)
    srv = Server("escrowd-tls", "--tls-cert", cp, "--tls-key", kp, scheme="https")
    try:
        s = login(srv.base, "ao@acme.test", verify=cp)
        expect("login over TLS (loopback, self-signed certificate)", s.last, 200)
        sc = cookie_header(s.last)
        check("over TLS the session cookie is Secure", "; Secure" in sc, sc)
        check("over TLS answers carry HSTS", "max-age" in s.last.headers.get("Strict-Transport-Security", ""))
        expect("the session works over TLS", s.get(srv.base + "/api/v1/me/", verify=cp), 200)
        host, port = srv.base[len("https://"):].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as c:
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                data = c.recv(100)
            except OSError:
                data = b""
        check("plain HTTP to the TLS port gets no HTTP answer", not data.startswith(b"HTTP/1.1 200"), data[:40])
    finally:
        rc = srv.stop()
    check("escrowd (TLS) stops cleanly", rc == 0, rc)
    rc = subprocess.run([BIN, "serve", "--data", DATA, "--listen", "127.0.0.1:0", "--tls-cert", cp] + A.db_args(),
                        capture_output=True, text=True)
    check("--tls-cert without --tls-key is a usage error (exit 2)", rc.returncode == 2 and "together" in rc.stderr)


if __name__ == "__main__":
    sys.exit(main())
