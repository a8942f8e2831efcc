"""Typed clients of the two HTTP APIs: the Platform API (what an AO's or DS's scripts call, as
BeeKeeperAI's API sample does: RS256 tokens made from your private key, form bodies) and the
Enclave API (what an algorithm calls inside the TEE). Calls release the GIL; one client is used
by one thread at a time, separate clients run in parallel. A refusal raises the error class of
its HTTP status (400 InvalidArgumentError, 401/403 AuthenticationError, 404 NotFoundError,
409 StateError, 422 CheckError, 5xx and network EscrowIOError) with the server's message;
``last_status`` and ``last_body`` keep the answer (e.g. the schema errors of a 422).

    with PlatformClient("https://host/api/v1", key_pem, "me@org", project_id) as api:
        api.upload_criteria("criteria.json", name="Criteria", version_tag="v1")
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Dict, Iterable, List, Optional, Union

from ._native import c as _c
from .keys import BytesLike, PathLike, _Handle

Progress = Optional[Callable[[int, int], None]]

WCEK, VALIDATION_CRITERIA, DATA_SPECIFICATION, DATA_ATTESTATION, ALGORITHM = 1, 2, 3, 4, 5
REPORT, MODEL, LOG = 1, 2, 3


@dataclass
class ApiKek:
    """Your party's KEK public key as the platform gives it."""
    key_content: str
    file_name: Optional[str]
    role: Optional[str]
    project_id: Optional[str]
    raw: Dict[str, Any]


@dataclass
class Artifact:
    """One artifact version (WCEK, criteria, specification, attestation, dataset, algorithm)."""
    id: str
    artifact_type: Optional[str]
    name: Optional[str]
    version_tag: Optional[str]
    role: Optional[str] = None
    project_id: Optional[str] = None
    description: Optional[str] = None
    version_description: Optional[str] = None
    sha256: Optional[str] = None
    file_name: Optional[str] = None
    system_version: Optional[int] = None
    created_at: Optional[int] = None
    details: Dict[str, Any] = field(default_factory=dict)
    raw: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Artifact":
        return cls(id=d.get("id"), artifact_type=d.get("artifact_type"), name=d.get("name"),
                   version_tag=d.get("version_tag"), role=d.get("role"),
                   project_id=d.get("project_id"), description=d.get("description"),
                   version_description=d.get("version_description"), sha256=d.get("sha256"),
                   file_name=d.get("file_name"), system_version=d.get("system_version"),
                   created_at=d.get("created_at"), details=d.get("details") or {}, raw=d)


@dataclass
class Versions:
    """The project's artifact versions you may see."""
    project: Dict[str, Any]
    role: Optional[str]
    versions: List[Artifact]
    raw: Dict[str, Any]

    @property
    def simulated_tee(self) -> Optional[bool]:
        return self.project.get("simulated_tee")

    def __iter__(self):
        return iter(self.versions)

    def __len__(self) -> int:
        return len(self.versions)


@dataclass
class Run:
    """A run's state: status, stage, run_number, simulated_tee (True: the TEE is simulated)."""
    status: Optional[str]
    stage: Optional[str]
    run_number: Optional[int]
    simulated_tee: Optional[bool]
    reason: Optional[str]
    raw: Dict[str, Any]

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Run":
        r = d.get("run") if isinstance(d.get("run"), dict) else d
        n = r.get("run_number")
        sim = r.get("simulated_tee", d.get("simulated_tee"))
        return cls(status=r.get("status"), stage=r.get("stage"),
                   run_number=int(n) if n is not None else None, simulated_tee=sim,
                   reason=r.get("reason"), raw=d)


@dataclass
class Report:
    """A run's report: the text the platform returns ("report content")."""
    content: str
    raw: Dict[str, Any]

    def json(self) -> Any:
        """The report content parsed as JSON."""
        return json.loads(self.content)


class _Api(_Handle):
    _status_fn = None

    @property
    def last_status(self) -> int:
        """The HTTP status of the last answer (0: none arrived)."""
        return type(self)._status_fn(self._p)[0]

    @property
    def last_body(self) -> str:
        """The body of the last answer other than 2xx (the server's error document), or ""."""
        return type(self)._status_fn(self._p)[1]

    def last_error(self) -> Any:
        """The last error answer parsed as JSON (None if it was not JSON)."""
        try:
            return json.loads(self.last_body)
        except ValueError:
            return None


def _read_key(key: Union[BytesLike, str, PathLike]) -> bytes:
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    s = os.fspath(key)
    if "-----BEGIN" in s:
        return s.encode()
    with open(s, "rb") as f:
        return f.read()


class PlatformClient(_Api):
    """The Platform API for one user in one project (base_url as the sample's BASE_URL)."""

    _free = staticmethod(_c.escrow_client_close)
    _status_fn = staticmethod(_c.pyesc_client_status)

    def __init__(self, base_url: str, key: Union[BytesLike, str, PathLike], email: str,
                 project_id: str, *, ca_file: Optional[PathLike] = None,
                 audience: Optional[str] = None, timeout: int = 0) -> None:
        """key: the PEM (bytes or text), or the path of the PEM file."""
        super().__init__(_c.pyesc_client_open(
            base_url, _read_key(key), email, project_id,
            None if ca_file is None else os.fspath(ca_file), audience, timeout))

    def token(self) -> str:
        """A bearer token as the client sends it."""
        return _c.pyesc_client_token(self._p)

    def kek_download(self) -> ApiKek:
        d = json.loads(_c.pyesc_client_kek(self._p))
        return ApiKek(d["key content"], d.get("file_name"), d.get("role"), d.get("project_id"), d)

    def _upload(self, kind: int, path: PathLike, name: str, version_tag: str, description: str,
                version_description: str, progress: Progress, alg=(None,) * 5) -> Artifact:
        return Artifact.from_dict(json.loads(_c.pyesc_client_upload(
            self._p, kind, name, description, version_tag, version_description, os.fspath(path),
            *alg, progress)))

    def upload_wcek(self, path: PathLike, *, name: str, version_tag: str, description: str = "",
                    version_description: str = "", progress: Progress = None) -> Artifact:
        return self._upload(WCEK, path, name, version_tag, description, version_description,
                            progress)

    def upload_criteria(self, path: PathLike, *, name: str, version_tag: str,
                        description: str = "", version_description: str = "",
                        progress: Progress = None) -> Artifact:
        return self._upload(VALIDATION_CRITERIA, path, name, version_tag, description,
                            version_description, progress)

    def upload_specification(self, path: PathLike, *, name: str, version_tag: str,
                             description: str = "", version_description: str = "",
                             progress: Progress = None) -> Artifact:
        return self._upload(DATA_SPECIFICATION, path, name, version_tag, description,
                            version_description, progress)

    def upload_attestation(self, path: PathLike, *, name: str, version_tag: str,
                           description: str = "", version_description: str = "",
                           progress: Progress = None) -> Artifact:
        return self._upload(DATA_ATTESTATION, path, name, version_tag, description,
                            version_description, progress)

    def upload_algorithm(self, path: PathLike, *, name: str, version_tag: str,
                         algorithm_type: str, data_attestation_version: str,
                         validation_criteria_version: Optional[str] = None,
                         description: str = "", version_description: str = "",
                         upload_type: Optional[str] = None,
                         upload_file_name: Optional[str] = None,
                         progress: Progress = None) -> Artifact:
        """Upload the encrypted algorithm zip, streamed from the file."""
        return self._upload(ALGORITHM, path, name, version_tag, description, version_description,
                            progress, (algorithm_type, validation_criteria_version,
                                       data_attestation_version, upload_type, upload_file_name))

    def add_dataset(self, sas_url: str, *, name: str, version_tag: str,
                    data_specification_version: str, data_attestation_version: str,
                    tags: Optional[str] = None, description: str = "",
                    version_description: str = "") -> Artifact:
        return Artifact.from_dict(json.loads(_c.pyesc_client_dataset(
            self._p, name, description, version_tag, version_description, sas_url,
            data_specification_version, data_attestation_version, tags)))

    def accept_criteria(self, version_tag: str) -> Dict[str, Any]:
        return json.loads(_c.pyesc_client_accept(self._p, version_tag))

    def versions(self, artifact_type: Optional[str] = None) -> Versions:
        d = json.loads(_c.pyesc_client_versions(self._p, artifact_type))
        return Versions(d.get("project") or {}, d.get("role"),
                        [Artifact.from_dict(v) for v in d.get("versions", [])], d)

    def notifications(self) -> Any:
        return json.loads(_c.pyesc_client_notifications(self._p))

    def run_configuration(self, name: str, algorithm_version: str, dataset_version: str, *,
                          description: str = "", run_type: str = "validation") -> Any:
        return json.loads(_c.pyesc_client_run_configuration(
            self._p, name, algorithm_version, dataset_version, description, run_type))

    def _run(self, op: int, alg: str, ds: str, run_number: int = 0, arg: Optional[str] = None,
             params: Iterable[str] = ()) -> Run:
        return Run.from_dict(json.loads(_c.pyesc_client_run(self._p, op, alg, ds, run_number, arg,
                                                            list(params))))

    def run_status(self, algorithm_version: str, dataset_version: str,
                   run_number: int = 0) -> Run:
        return self._run(0, algorithm_version, dataset_version, run_number)

    def run_request(self, algorithm_version: str, dataset_version: str, machine_type: str, *,
                    parameters: Optional[Dict[str, str]] = None) -> Run:
        params = [f"{k}={v}" for k, v in (parameters or {}).items()]
        return self._run(1, algorithm_version, dataset_version, 0, machine_type, params)

    def initiate_run(self, algorithm_version: str, dataset_version: str) -> Run:
        return self._run(2, algorithm_version, dataset_version)

    def reject_run(self, algorithm_version: str, dataset_version: str, reason: str,
                   run_number: int = 0) -> Run:
        return self._run(3, algorithm_version, dataset_version, run_number, reason)

    def cancel_run(self, algorithm_version: str, dataset_version: str,
                   run_number: int = 0) -> Run:
        return self._run(4, algorithm_version, dataset_version, run_number)

    def report(self, algorithm_version: str, dataset_version: str, run_number: int = 0) -> Report:
        d = json.loads(_c.pyesc_client_report(self._p, algorithm_version, dataset_version,
                                              run_number))
        c = d.get("report content")
        return Report(c if isinstance(c, str) else json.dumps(c), d)

    def download(self, what: int, algorithm_version: str, dataset_version: str,
                 out_path: PathLike, run_number: int = 0, progress: Progress = None) -> None:
        """Save a run output (REPORT, MODEL or LOG) to out_path, atomically."""
        _c.pyesc_client_download(self._p, what, algorithm_version, dataset_version, run_number,
                                 os.fspath(out_path), progress)

    def call(self, method: str, path: str, fields: Optional[Dict[str, str]] = None) -> Any:
        """Any other endpoint in the same style ("chat/"); its JSON answer."""
        kv: List[str] = []
        for k, v in (fields or {}).items():
            kv += [k, v]
        return json.loads(_c.pyesc_client_call(self._p, method, path, kv))


@dataclass
class EnclaveFile:
    id: Optional[str]
    name: str
    size: Optional[int]
    upload_date: Optional[str]


@dataclass
class Verdict:
    """The criteria's answer to a report: valid, and the Cerberus errors when not."""
    valid: bool
    status: str
    message: Any
    raw: Dict[str, Any]


class EnclaveClient(_Api):
    """The Enclave API at base_url (None: $ENCLAVE_URL, $ESCROW_RUNTIME_LOCATION, or
    https://localhost:5000). Without ca_file, $SSL_CERT_FILE / $CURL_CA_BUNDLE are trusted."""

    _free = staticmethod(_c.escrow_enclave_close)
    _status_fn = staticmethod(_c.pyesc_enclave_status)

    def __init__(self, base_url: Optional[str] = None, *, ca_file: Optional[PathLike] = None,
                 timeout: int = 0) -> None:
        super().__init__(_c.pyesc_enclave_open(base_url, None if ca_file is None
                                               else os.fspath(ca_file), timeout))

    def files(self, sas_url: Optional[str] = None) -> List[EnclaveFile]:
        d = json.loads(_c.pyesc_enclave_list(self._p, sas_url))
        return [EnclaveFile(None if f.get("id") is None else str(f.get("id")), f["name"],
                            f.get("size"), f.get("uploadDate")) for f in d.get("files", [])]

    def read_to(self, name: str, out: Union[BinaryIO, Callable[[bytes], Any]], *,
                offset: int = 0, progress: Progress = None) -> None:
        """Stream a decrypted file into a binary file object (or a callable taking bytes)."""
        write = out if callable(out) else out.write
        _c.pyesc_enclave_get(self._p, name, offset, write, progress)

    def read(self, name: str) -> bytes:
        parts: List[bytes] = []
        self.read_to(name, parts.append)
        return b"".join(parts)

    def download(self, name: str, out_path: PathLike, progress: Progress = None) -> None:
        _c.pyesc_enclave_get_file(self._p, name, os.fspath(out_path), progress)

    def log(self, message: str, status: str = "Progress") -> None:
        _c.pyesc_enclave_log(self._p, message, status)

    def _report(self, final: int, name: str, status: str, json_data: Any, project, run,
                run_configuration) -> Verdict:
        text = json_data if isinstance(json_data, str) else json.dumps(json_data)
        d = json.loads(_c.pyesc_enclave_report(self._p, final, name, status, text, project, run,
                                               run_configuration))
        return Verdict(d["status"] == "successful", d["status"], d.get("message"), d)

    def validate(self, name: str, json_data: Any, *, status: str = "Completed",
                 project: Optional[str] = None, run: Optional[str] = None,
                 run_configuration: Optional[str] = None) -> Verdict:
        """Check a report against the approved criteria without sending it."""
        return self._report(0, name, status, json_data, project, run, run_configuration)

    def report(self, name: str, json_data: Any, *, status: str = "Completed",
               project: Optional[str] = None, run: Optional[str] = None,
               run_configuration: Optional[str] = None) -> Verdict:
        """Post the final report (only one that passes the criteria leaves the TEE)."""
        return self._report(1, name, status, json_data, project, run, run_configuration)

    def artifact(self, path: PathLike, file_name: Optional[str] = None,
                 progress: Progress = None) -> Any:
        return json.loads(_c.pyesc_enclave_artifact(self._p, os.fspath(path), file_name,
                                                    progress))
