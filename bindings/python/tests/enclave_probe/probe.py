"""Runs inside escrow-enclave's sandbox (tests/test_enclave_client.py): the Python bindings'
EnclaveClient against the real Enclave API. The package ships the escrow package (py/) and
libescrow (lib/), loaded first so the extension finds it (the sandbox has no build tree).
Posts a report with what it saw; the test compares it with the plaintext dataset."""
import ctypes
import hashlib
import io
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ctypes.CDLL(os.path.join(HERE, "lib", "libescrow.so.0"), mode=ctypes.RTLD_GLOBAL)
sys.path.insert(0, os.path.join(HERE, "py"))
import escrow  # noqa: E402

api = escrow.EnclaveClient()  # ENCLAVE_URL, trusting the run's CA through SSL_CERT_FILE
files = api.files()
digests, sizes = {}, {}
for f in files:
    buf = io.BytesIO()
    seen = []
    api.read_to(f.name, buf, progress=lambda d, t: seen.append(d))
    data = buf.getvalue()
    digests[f.name] = hashlib.sha256(data).hexdigest()
    sizes[f.name] = len(data)
first = sorted(digests)[0]
whole = api.read(first)
tail = io.BytesIO()
api.read_to(first, tail, offset=5)
range_ok = tail.getvalue() == whole[5:]
try:
    api.read("no/such/file.csv")
    missing = "read"
except escrow.NotFoundError:
    missing = "NotFoundError"
api.log(f"bindings probe: {len(files)} files", "Progress")
refused = api.validate("probe", {"files": "not a number"})
doc = {"files": len(files), "digests": digests, "range_ok": range_ok, "missing": missing,
       "refusal_valid": refused.valid, "refusal": refused.message}
verdict = api.report("bindings probe", doc)
sys.exit(0 if verdict.valid else 3)
