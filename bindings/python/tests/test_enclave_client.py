"""The Python EnclaveClient against a real escrow-enclave run (ESCROW_ENCLAVE_BIN): a package
holding tests/enclave_probe/probe.py, this escrow package and libescrow runs in the sandbox on
the encrypted sample dataset, lists and streams every file (and one with a Range), logs, gets a
refusal from the criteria, and posts a report; the report that leaves the enclave must carry
the plaintext's digests."""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

import escrow
from conftest import vectors_dir

ENCLAVE = os.environ.get("ESCROW_ENCLAVE_BIN")
LIBDIR = os.environ.get("ESCROW_LIBRARY_DIR")
HERE = pathlib.Path(__file__).resolve().parent


@pytest.mark.skipif(not ENCLAVE or not os.access(ENCLAVE, os.X_OK) or not LIBDIR or
                    shutil.which("bwrap") is None,
                    reason="needs ESCROW_ENCLAVE_BIN, ESCROW_LIBRARY_DIR and bubblewrap")
def test_enclave_client_in_a_real_sandbox_run():
    # a folder the sandbox user can traverse (pytest's own tmp folders are 0700)
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="escrow-enclave-client-"))
    try:
        _run(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _run(tmp_path):
    tmp_path.chmod(0o711)
    rt = tmp_path / "rt"
    rt.mkdir(mode=0o711)
    repo = vectors_dir().parent.parent
    src = repo / "examples" / "dataset"
    cek = escrow.Cek.load(vectors_dir() / "keys" / "cek.raw")
    escrow.encrypt_dataset(src, tmp_path / "ds", cek)
    pkg = tmp_path / "pkg"
    shutil.copytree(HERE / "enclave_probe", pkg)
    pydir = pathlib.Path(escrow.__file__).parent
    shutil.copytree(pydir, pkg / "py" / "escrow",
                    ignore=shutil.ignore_patterns("__pycache__", "EnclaveSDK"))
    (pkg / "lib").mkdir()
    shutil.copy(pathlib.Path(LIBDIR) / "libescrow.so.0", pkg / "lib" / "libescrow.so.0")
    for p in [pkg, *pkg.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    crit = tmp_path / "criteria.json"
    crit.write_text(json.dumps({"files": {"type": "integer", "min": 1},
                                "digests": {"type": "dict"}, "range_ok": {"type": "boolean"},
                                "missing": {"type": "string"},
                                "refusal_valid": {"type": "boolean"},
                                "refusal": {"type": "dict"}}))
    out = tmp_path / "out"
    p = subprocess.run([ENCLAVE, "run", "--package", str(pkg), "--dataset", str(tmp_path / "ds"),
                        "--criteria", str(crit), "--ds-cek", str(vectors_dir() / "keys" / "cek.raw"),
                        "--timeout", "120", "-o", str(out)],
                       capture_output=True, text=True, env=dict(os.environ, TMPDIR=str(rt)))
    logs = (out / "logs.jsonl").read_text() if (out / "logs.jsonl").exists() else ""
    assert p.returncode == 0, p.stdout + p.stderr + logs
    report = json.loads((out / "report.json").read_text())
    doc = report["json_data"]
    want = {str(f.relative_to(src)) + ".bkenc": hashlib.sha256(f.read_bytes()).hexdigest()
            for f in src.rglob("*") if f.is_file()}
    assert doc["digests"] == want
    assert doc["files"] == len(want)
    assert doc["range_ok"] is True
    assert doc["missing"] == "NotFoundError"
    assert doc["refusal_valid"] is False and "files" in doc["refusal"]
    assert "bindings probe: " in logs
