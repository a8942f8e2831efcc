#!/usr/bin/env bash
# The README's main command: the whole EscrowAI collaboration on one machine, through escrowd's
# public API, as an algorithm owner (AO) and a data steward (DS) would drive it.
#
#   1. build escrow, escrowd and escrow-enclave; start escrowd on the embedded defaults
#      (SQLite in out/demo/escrowd, the sandbox runner, local dataset folders) with
#      --allow-simulated-tee: the TEE is SIMULATED (bubblewrap, cgroups, seccomp);
#   2. create the two organisations, their users (API keys and passwords) and a project;
#   3. through the API: KEKs, CEKs and WCEKs, the data specification, the DS's attestation,
#      the validation criteria and their acceptance, the encrypted dataset, the encrypted
#      validation algorithm, a run configuration, a run request, the DS's approval, the run;
#   4. print the validation report, leave escrowd running for the web UI and say where.
#
# Options: --training   also run the training variant: two successive training runs, the model
#                       of run 1 (downloaded, encrypted to the AO) fed into algorithm v2;
#          --stop       stop escrowd at the end instead of leaving it running (tests);
#          --no-build   use the programs already built in $ESCROW_DEMO_BUILD (default build/).
# Environment: ESCROW_DEMO_PORT (8080), ESCROW_DEMO_OUT (out/demo), ESCROW_DEMO_BUILD (build).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
training=0 stop=0 build=1
for a in "$@"; do
  case $a in
    --training) training=1 ;;
    --stop) stop=1 ;;
    --no-build) build=0 ;;
    *) echo "usage: examples/demo.sh [--training] [--stop] [--no-build]" >&2; exit 2 ;;
  esac
done
out=${ESCROW_DEMO_OUT:-$root/out/demo}
bdir=${ESCROW_DEMO_BUILD:-$root/build}
port=${ESCROW_DEMO_PORT:-8080}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [[ $build == 1 ]]; then
  step "Build (tools/install-deps.sh, cmake, ninja)"
  bash tools/install-deps.sh
  cmake -S . -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$bdir" escrow_cli escrowd escrow-enclave >/dev/null
  # the web dashboard, when its toolchain (node) is present: a missing one only costs the UI
  ninja -C "$bdir" escrow_web >/dev/null 2>&1 || echo "(the web dashboard was not built: the API works without it)"
fi
escrow=$bdir/tools/escrow/escrow
escrowd=$bdir/server/escrowd
for b in "$escrow" "$escrowd" "$bdir/enclave/escrow-enclave"; do
  [[ -x $b ]] || { echo "demo: $b is missing (build first, or drop --no-build)" >&2; exit 2; }
done

# a previous demo's server
if [[ -f $out/escrowd.pid ]]; then
  kill "$(cat "$out/escrowd.pid")" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$(cat "$out/escrowd.pid")" 2>/dev/null || break; sleep 0.1; done
fi
rm -rf "$out"
mkdir -p "$out"/{keys,ao,ds}
# run folders of the sandbox live under TMPDIR, which the sandbox user must be able to traverse
export TMPDIR=${TMPDIR:-/tmp}

step "2. Organisations, users and a project (escrowd admin)"
data=$out/escrowd
adm() { "$escrowd" admin --data "$data" "$@"; }
for u in ao ds; do
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out/keys/$u.key.pem" 2>/dev/null
  openssl pkey -in "$out/keys/$u.key.pem" -pubout -out "$out/keys/$u.pub.pem"
  head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$out/keys/$u.password"
  chmod 600 "$out/keys/$u.key.pem" "$out/keys/$u.password"
done
adm create-org --name "Acme Algorithms"
adm create-org --name "Example Hospital"
adm create-user --org "Acme Algorithms" --email ao@acme.example \
  --public-key "$out/keys/ao.pub.pem" --password-file "$out/keys/ao.password"
adm create-user --org "Example Hospital" --email ds@hospital.example \
  --public-key "$out/keys/ds.pub.pem" --password-file "$out/keys/ds.password"
# 3072-bit KEKs keep the demo quick; production projects use the default 4096
adm create-project --name "Demo Project" --ao-org "Acme Algorithms" --ds-org "Example Hospital" \
  --kek-bits 3072 --ao-user ao@acme.example --ds-user ds@hospital.example >"$out/project.json"
cat "$out/project.json"
if [[ $training == 1 ]]; then
  adm create-project --name "Demo Training" --training --ao-org "Acme Algorithms" \
    --ds-org "Example Hospital" --kek-bits 3072 --ao-user ao@acme.example \
    --ds-user ds@hospital.example >"$out/training-project.json"
  cat "$out/training-project.json"
fi

step "1. escrowd on 127.0.0.1:$port (SQLite, sandbox runner, local dataset folders)"
web=()
for d in "$bdir/web/dist" "$root/web/dist"; do
  [[ -f $d/index.html ]] && { web=(--web "$d"); break; }
done
setsid "$escrowd" serve --data "$data" --listen "127.0.0.1:$port" --allow-simulated-tee \
  --allow-loopback-http "${web[@]}" >"$out/escrowd.out" 2>"$out/escrowd.log" </dev/null &
echo $! >"$out/escrowd.pid"
for _ in $(seq 100); do
  grep -q listening "$out/escrowd.out" 2>/dev/null && break
  kill -0 "$(cat "$out/escrowd.pid")" 2>/dev/null || { cat "$out/escrowd.log" >&2; exit 2; }
  sleep 0.1
done
base="http://$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listening"])' "$out/escrowd.out")"
echo "escrowd is listening at $base (log: $out/escrowd.log)"

step "3. The workflow, through the public API"
export ESCROW_BIN=$escrow DEMO_BASE=$base DEMO_OUT=$out DEMO_ROOT=$root DEMO_TRAINING=$training
python3 - <<'PY'
import base64, datetime, json, os, subprocess, sys, time, urllib.error, urllib.parse, urllib.request, uuid
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

BASE, OUT, ROOT = os.environ["DEMO_BASE"], os.environ["DEMO_OUT"], os.environ["DEMO_ROOT"]
ESCROW = os.environ["ESCROW_BIN"]
ALGS = os.path.join(ROOT, "examples", "algorithms")


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(role, project, email):
    """An API token as BeeKeeperAI's API sample makes it (PyJWT RS256)."""
    key = serialization.load_pem_private_key(open(f"{OUT}/keys/{role}.key.pem", "rb").read(), None)
    exp = int((datetime.datetime.now(tz=datetime.timezone.utc) + datetime.timedelta(minutes=30)).timestamp())
    claims = {"iss": "EscrowAI-API", "exp": exp, "sub": project, "user": email, "aud": "frontoffice.beekeeperai"}
    si = b64u(json.dumps({"alg": "RS256", "typ": "JWT"}).encode()) + "." + b64u(json.dumps(claims).encode())
    return si + "." + b64u(key.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256()))


def api(method, path, tok, fields=None, files=None, query=None):
    url = BASE + "/api/v1/" + path + "/" + ("?" + urllib.parse.urlencode(query) if query else "")
    h = {"Authorization": "Bearer " + tok}
    data = None
    if fields is not None or files:
        bnd = "----demo" + uuid.uuid4().hex
        body = b""
        for k, v in (fields or {}).items():
            body += f'--{bnd}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, (fn, blob) in (files or {}).items():
            body += (f'--{bnd}\r\nContent-Disposition: form-data; name="{k}"; filename="{fn}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n").encode() + blob + b"\r\n"
        data = body + f"--{bnd}--\r\n".encode()
        h["Content-Type"] = "multipart/form-data; boundary=" + bnd
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        sys.exit(f"demo: {method} /api/v1/{path}/ answered {e.code}: {e.read().decode()[:500]}")


def escrow(*args):
    print("$ escrow " + " ".join(a.replace(OUT, "out/demo") for a in args))
    p = subprocess.run([ESCROW, *args], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"demo: escrow {args[0]} failed: {p.stderr}")
    return p.stdout


def say(msg):
    print("  " + msg, flush=True)


PDF = b"%PDF-1.4\n% escrow demo document\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def party_keys(tok, pid, role):
    """Download the party's KEK, make its CEK, wrap it into a WCEK and upload it."""
    kek = api("GET", "key-encryption-key-download", tok, query={"project_id": pid})
    d = f"{OUT}/{role}/{pid[:8]}"
    os.makedirs(d, exist_ok=True)
    open(f"{d}/{kek['file_name']}", "w").write(kek["key content"])
    escrow("cek", "generate", "-o", f"{d}/cek.key")
    escrow("wcek", "wrap", "--kek", f"{d}/{kek['file_name']}", "--cek", f"{d}/cek.key", "-o", f"{d}/wcek.key.bkenc")
    api("POST", "wrapped-content-encryption-key", tok, fields={"project_id": pid, "name": role.upper() + " WCEK",
        "version_tag": "v1"}, files={"file_name": ("wcek.key.bkenc", open(f"{d}/wcek.key.bkenc", "rb").read())})
    say(f"{role.upper()}: KEK {kek['file_name']} downloaded, CEK made, WCEK uploaded (it unwraps only inside escrowd's vault)")
    return f"{d}/cek.key"


def common(pid, kind, criteria_path):
    AO = token("ao", pid, "ao@acme.example")
    DS = token("ds", pid, "ds@hospital.example")
    ao_cek = party_keys(AO, pid, "ao")
    ds_cek = party_keys(DS, pid, "ds")
    api("POST", "data-specification", AO, fields={"project_id": pid, "name": "Data specification", "version_tag": "v1"},
        files={"file_name": ("specification.pdf", PDF)})
    say("AO: data specification uploaded")
    api("POST", "data-attestation", DS, fields={"project_id": pid, "name": "Attestation", "version_tag": "v1"},
        files={"file_name": ("attestation.pdf", PDF)})
    say("DS: data attestation report uploaded")
    api("POST", "validation-criteria", AO, fields={"project_id": pid, "name": kind + " criteria", "version_tag": "c1"},
        files={"file_name": ("criteria.json", open(criteria_path, "rb").read())})
    api("POST", "validation-criteria-accept", DS, fields={"project_id": pid, "validation_criteria_version": "c1"})
    say("AO: validation criteria c1 uploaded; DS: accepted them")
    cohort = f"{OUT}/ds/{pid[:8]}/cohort"
    subprocess.run([sys.executable, f"{ALGS}/make_dataset.py", "-o", cohort, "--seed", "7", "--rows", "800",
                    "--files", "2"], check=True, capture_output=True)
    enc = f"{OUT}/ds/{pid[:8]}/cohort.enc"
    escrow("encrypt", "--cek", ds_cek, "--project", pid, "--role", "ds", "--dataset-version", "d1", cohort, "-o", enc)
    os.chmod(os.path.dirname(enc), 0o755)
    api("POST", "dataset", DS, fields={"project_id": pid, "name": "Synthetic cohort", "version_tag": "d1",
        "dataset_uri": "file://" + enc, "data_specification_version": "v1", "data_attestation_version": "v1"})
    say("DS: synthetic cohort encrypted file by file (+ MAC'd manifest) and added as dataset d1 (a local folder)")
    return AO, DS, ao_cek, ds_cek


def pack_and_upload(AO, pid, kind, ao_cek, tag, extra=()):
    z = f"{OUT}/ao/{pid[:8]}/{kind}-{tag}.zip"
    env = dict(os.environ, ESCROW_BIN=ESCROW)
    p = subprocess.run(["bash", f"{ALGS}/pack.sh", kind, "--cek", ao_cek, *extra, "-o", z], env=env,
                       capture_output=True, text=True)
    if p.returncode:
        sys.exit("demo: pack.sh failed: " + p.stderr)
    f = {"project_id": pid, "name": f"{kind} algorithm", "version_tag": tag, "algorithm_type": kind,
         "data_attestation_version": "v1", "upload_type": "Upload Zip", "upload_file_name": os.path.basename(z)}
    if kind == "validation":
        f["validation_criteria_version"] = "c1"
    r = api("POST", "algorithm", AO, fields=f, files={"file_name": (os.path.basename(z), open(z, "rb").read())})
    say(f"AO: {kind} algorithm {tag} packed (code and model encrypted with the AO's CEK) and uploaded: "
        f"{r['details']['upload_status'][0]['status']}")


def run(AO, DS, pid, alg_tag, params=None):
    cfg = api("POST", "run-configuration", AO, fields={"project_id": pid, "name": f"{alg_tag} on d1",
              "algorithm_version": alg_tag, "dataset_version": "d1"})
    say(f"AO: run configuration {cfg['name']!r}: {cfg['status']}")
    q = {"project_id": pid, "algorithm_version": alg_tag, "dataset_version": "d1"}
    f = dict(q, machine_type="cpu-standard-2")
    if params:
        f["runtime_parameters"] = json.dumps(params)
    r = api("POST", "run-request", AO, fields=f)
    say(f"AO: run {r['run_number']} requested ({r['machine_type']}: {r['vcpus']} vCPU, {r['memory_gib']} GiB)")
    n = api("GET", "notifications", DS, query={"project_id": pid})
    say(f"DS: {n['unread']} unread notification(s): {n['notifications'][0]['message']}")
    r = api("GET", "initiate-run", DS, query=q)
    say(f"DS: run initiated: {r['status']} / {r['stage']} (simulated TEE: {r['simulated_tee']})")
    seen = 0
    while True:
        lg = api("GET", "log-download", DS, query=q)
        for line in lg["logs"][seen:]:
            print(f"    [{line.get('stage', ''):15}] {line.get('message', '')[:150]}")
        seen = len(lg["logs"])
        if lg["status"] not in ("In Progress",):
            break
        time.sleep(0.3)
    st = api("GET", "run-status", AO, query=q)
    if st["status"] != "Completed":
        sys.exit(f"demo: the run ended {st['status']}: {st['reason']}")
    say(f"run {st['run_number']}: {st['status']}; certificate: simulated_tee={st['certificate']['simulated_tee']}")
    return q


mode = "validation"
pid = json.load(open(f"{OUT}/project.json"))["id"]
print(f"\n-- project {pid} (validation)")
AO, DS, ao_cek, _ = common(pid, "validation", f"{ALGS}/validation/criteria.json")
pack_and_upload(AO, pid, "validation", ao_cek, "v1")
q = run(AO, DS, pid, "v1")
rep = api("GET", "report-download", AO, query=dict(q, run_number="1"))
csv = api("GET", "report-download", AO, query=dict(q, format="csv"))
open(f"{OUT}/{rep['file_name']}", "w").write(rep["report content"])
open(f"{OUT}/{csv['file_name']}", "w").write(csv["report content"])
print("\n\033[1m== 4. The validation report (it passed the criteria the DS accepted)\033[0m")
print(json.dumps(json.loads(rep["report content"])["json_data"], indent=2))
print(f"  saved as out/demo/{rep['file_name']} and out/demo/{csv['file_name']} (AO only; the DS sees the logs)")

if os.environ.get("DEMO_TRAINING") == "1":
    tpid = json.load(open(f"{OUT}/training-project.json"))["id"]
    print(f"\n-- project {tpid} (training: two successive runs)")
    AO, DS, ao_cek, _ = common(tpid, "training", f"{ALGS}/training/criteria.json")
    pack_and_upload(AO, tpid, "training", ao_cek, "t1")
    q = run(AO, DS, tpid, "t1", {"ITERATIONS": "60"})
    m = api("GET", "model-download", AO, query=q)
    d = f"{OUT}/ao/{tpid[:8]}"
    open(f"{d}/model1.zip.bkenc", "wb").write(base64.b64decode(m["model content"]))
    escrow("decrypt", "--cek", ao_cek, f"{d}/model1.zip.bkenc", "-o", f"{d}/model1.zip")
    import zipfile
    with zipfile.ZipFile(f"{d}/model1.zip") as z:
        open(f"{d}/model1.json", "wb").write(z.read("artifacts/model.json"))
    say(f"AO: model of run 1 downloaded ({m['file_name']}, encrypted to the AO's CEK) and decrypted")
    pack_and_upload(AO, tpid, "training", ao_cek, "t2", ("--start-model", f"{d}/model1.json"))
    q2 = run(AO, DS, tpid, "t2", {"ITERATIONS": "60"})
    r1 = json.loads(api("GET", "report-download", AO, query=q)["report content"])["json_data"]["training"]
    r2 = json.loads(api("GET", "report-download", AO, query=q2)["report content"])["json_data"]["training"]
    print(f"  run 1: loss {r1['final_loss']} after {r1['iterations_total']} iterations; "
          f"run 2 (from model 1): loss {r2['final_loss']} after {r2['iterations_total']} iterations")
    if not (r2["iterations_total"] > r1["iterations_total"] and r2["final_loss"] <= r1["final_loss"]):
        sys.exit("demo: the second training run did not continue from the first model")
PY

if [[ $stop == 1 ]]; then
  kill "$(cat "$out/escrowd.pid")"
  for _ in $(seq 100); do kill -0 "$(cat "$out/escrowd.pid")" 2>/dev/null || break; sleep 0.1; done
  rm -f "$out/escrowd.pid"
  step "Demo complete (escrowd stopped)"
  exit 0
fi
step "Demo complete: escrowd keeps running at $base"
cat <<EOF
  Dashboard:  $base/ ${web[*]:+(served from ${web[1]})}${web[*]:-(build the web UI with ninja -C build to get one)}
  Logins:     ao@acme.example     password: $(cat "$out/keys/ao.password")
              ds@hospital.example password: $(cat "$out/keys/ds.password")
  API keys:   out/demo/keys/{ao,ds}.key.pem (RS256 tokens, as BeeKeeperAI's API sample makes them)
  Data:       out/demo/escrowd (SQLite); log: out/demo/escrowd.log
  Stop it:    kill \$(cat out/demo/escrowd.pid)
  The TEE is SIMULATED (sandbox backend): fine for a demo, no protection against the host.
EOF
