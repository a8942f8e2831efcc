#!/usr/bin/env python3
"""escrowd against the request sequence of BeeKeeperAI's published API sample
(escrowai-api-sample: algorithm-owner.py and data-steward.py, reference/beekeeper-clients.md
§5), written the way the sample writes it: PyJWT's jwt.encode(payload, key, algorithm="RS256"),
`requests` with a browser User-Agent, form data plus files={'file_name': ...}, trailing
slashes, versions by tag. Only the base URL differs. Skips (exit 77) without PyJWT/requests.
Env: ESCROWD_BIN, ESCROW_TEST_VECTORS, ESCROWD_TMP."""
import datetime, io, json, os, shutil, signal, subprocess, sys, zipfile

try:
    import jwt
    import requests
except ImportError:
    print("skipped: PyJWT and requests are needed (pip install PyJWT requests)")
    sys.exit(77)
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_test as A  # noqa: E402

UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) Version/18.1 Safari/605.1.15")


def token(key_pem, project_id, email, aud):
    payload = {"iss": "EscrowAI-API",
               "exp": datetime.datetime.now(tz=datetime.timezone.utc) + datetime.timedelta(minutes=5),
               "aud": aud, "sub": project_id, "user": email}
    return jwt.encode(payload, key_pem, algorithm="RS256")


def main():
    project_id = A.fresh_two_party_project("sample_test", "Sample")
    keys = os.path.join(A.VEC, "keys")
    with open(os.path.join(keys, "kek3072.key.pem")) as f:
        AO_KEY = f.read()
    with open(os.path.join(keys, "kek4096.key.pem")) as f:
        DS_KEY = f.read()

    proc = subprocess.Popen([A.BIN, "serve", "--data", A.DATA, "--listen", "127.0.0.1:0"] + A.db_args(),
                            stdout=subprocess.PIPE, stderr=open(os.path.join(A.TMP, "escrowd.log"), "w"), text=True)
    base = "http://" + json.loads(proc.stdout.readline())["listening"] + "/api/v1"
    dl = os.path.join(A.TMP, "downloads")
    os.makedirs(dl)
    try:
        for who, key, email, aud in (("data steward", DS_KEY, "ds@x.test", "staging.api.beekeeperai"),
                                     ("algorithm owner", AO_KEY, "ao@x.test", "frontoffice.beekeeperai")):
            headers = {"Authorization": "Bearer " + token(key, project_id, email, aud), "User-Agent": UA}
            # 1. KEK download (query, as after ab6e717), saved as .der in text mode
            r = requests.get(f"{base}/key-encryption-key-download/", headers=headers,
                             params={"project_id": project_id})
            A.check(f"{who}: KEK download answers 200", r.status_code == 200, r.text)
            kek_path = os.path.join(dl, f"kek-{email}.der")
            if r.status_code == 200:
                with open(kek_path, "w") as f:
                    f.write(r.json()["key content"])
            # the older sample: the same GET with a form body
            r = requests.get(f"{base}/key-encryption-key-download/", headers=headers, data={"project_id": project_id})
            A.check(f"{who}: KEK download with a form body (before ab6e717)", r.status_code == 200, r.text)
            # 2. WCEK: wrap a CEK with the KEK read back as PEM, OAEP SHA-1 as escrowai-encrypt does
            with open(kek_path, "rb") as f:
                kek = serialization.load_pem_public_key(f.read())
            cek = os.urandom(32)
            wcek = kek.encrypt(cek, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None))
            form = {"project_id": project_id, "name": "WCEK", "description": "wrapped key",
                    "version_description": "first", "version_tag": "v1"}
            r = requests.post(f"{base}/wrapped-content-encryption-key/", headers=headers, data=form,
                              files={"file_name": io.BytesIO(wcek)})
            A.check(f"{who}: WCEK upload answers 201", r.status_code == 201, r.text)
            if who == "data steward":
                r = requests.post(f"{base}/data-attestation/", headers=headers,
                                  data=dict(form, name="Attestation", version_tag="att-1"),
                                  files={"file_name": ("attestation.pdf", b"%PDF-1.4\n%%EOF\n")})
                A.check("data steward: attestation upload answers 201", r.status_code == 201, r.text)
            else:
                r = requests.post(f"{base}/data-specification/", headers=headers,
                                  data=dict(form, name="Specification", version_tag="spec-1"),
                                  files={"file_name": ("spec.pdf", b"%PDF-1.4\n%%EOF\n")})
                A.check("algorithm owner: data specification upload answers 201", r.status_code == 201, r.text)
                criteria = json.dumps({"accuracy": {"type": "float", "min": 0, "max": 1}}).encode()
                r = requests.post(f"{base}/validation-criteria/", headers=headers,
                                  data=dict(form, name="Criteria", version_tag="crit-1"),
                                  files={"file_name": ("criteria.json", criteria)})
                A.check("algorithm owner: validation criteria upload answers 201", r.status_code == 201, r.text)
                z = io.BytesIO()
                with zipfile.ZipFile(z, "w") as zf:
                    zf.writestr("Dockerfile", "FROM python:3.11-slim\nCOPY . /app\nENTRYPOINT [\"bash\", \"/app/run.sh\"]\n")
                    zf.writestr("run.sh", "python model.py\n")
                    zf.writestr("secrets.yaml", "secretFiles:\n- [model.py.bkenc, model.py]\n")
                    zf.writestr("model.py.bkenc", b"Salted__" + os.urandom(8 + 40 + 16))
                r = requests.post(f"{base}/algorithm/", headers=headers, timeout=60,
                                  data=dict(form, name="Algorithm", version_tag="alg-1", algorithm_type="validation",
                                            validation_criteria_version="crit-1", data_attestation_version="att-1",
                                            upload_type="Upload Zip", upload_file_name="algorithm.zip"),
                                  files={"file_name": ("algorithm.zip", z.getvalue())})
                A.check("algorithm owner: algorithm upload answers 201", r.status_code == 201, r.text)
        # the data steward's dataset (step 7), after the AO's specification exists
        headers = {"Authorization": "Bearer " + token(DS_KEY, project_id, "ds@x.test", "frontoffice.beekeeperai"),
                   "User-Agent": UA}
        r = requests.post(f"{base}/dataset/", headers=headers,
                          data={"project_id": project_id, "name": "Dataset", "description": "d",
                                "version_description": "v", "version_tag": "ds-1", "tags": "t",
                                "dataset_uri": A.sas_url(), "data_specification_version": "spec-1",
                                "data_attestation_version": "att-1"})
        A.check("data steward: dataset answers 201", r.status_code == 201, r.text)
        r = requests.post(f"{base}/validation-criteria-accept/", headers=headers,
                          data={"project_id": project_id, "validation_criteria_version": "crit-1"})
        A.check("data steward: criteria accepted", r.status_code == 201, r.text)
    finally:
        proc.send_signal(signal.SIGTERM)
        A.check("escrowd stops cleanly", proc.wait(timeout=30) == 0)
    if A.FAILS:
        print(f"{len(A.FAILS)} failed: {A.FAILS}")
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
