"""Packages: algorithm zips (BeeKeeperAI's layout) and encrypted dataset folders."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from ._native import c as _c
from .envelope import FileFormat
from .keys import BytesLike, Cek, PathLike, _Handle

MANIFEST_FILE = ".escrow-manifest.bkenc"


def pack_algorithm(folder: PathLike, cek: Cek, out_zip: PathLike,
                   secrets: Sequence[str] = (), *, format: FileFormat = FileFormat.V1,
                   project_id: Optional[str] = None, role: Optional[str] = None,
                   asset: Optional[str] = None, key_id: Optional[str] = None) -> None:
    """Pack an algorithm folder: each path in secrets is encrypted to "<path>.bkenc" and
    secrets.yaml generated (with no secrets, the folder's own secrets.yaml is used)."""
    _c.pyesc_algorithm_pack(os.fspath(folder), cek._p, [os.fspath(s) for s in secrets],
                            int(format), project_id, role, asset, key_id, os.fspath(out_zip))


class Check(NamedTuple):
    name: str
    status: str  # "passed", "failed" or "not checked"
    detail: str


class AlgorithmPackage(_Handle):
    """An opened algorithm zip (ours or BeeKeeperAI's tools'), hardened against unsafe zips."""

    _free = staticmethod(_c.escrow_algorithm_free)

    def __init__(self, zip_path: PathLike, *, max_entries: int = 0, max_entry_size: int = 0,
                 max_total_size: int = 0, max_ratio: int = 0) -> None:
        """Limits of 0 keep libescrow's defaults."""
        super().__init__(_c.pyesc_algorithm_open(os.fspath(zip_path), max_entries,
                                                 max_entry_size, max_total_size, max_ratio))

    @property
    def entries(self) -> List[str]:
        p = self._p
        return [_c.escrow_algorithm_entry_name(p, i)
                for i in range(_c.escrow_algorithm_entry_count(p))]

    @property
    def secrets(self) -> List[Tuple[str, str]]:
        """(encrypted path in the zip, original path) pairs of secrets.yaml."""
        p = self._p
        return [tuple(_c.pyesc_algorithm_secret(p, i))  # type: ignore[misc]
                for i in range(_c.escrow_algorithm_secret_count(p))]

    def check_report(self, wcek_present: Optional[bool] = None) -> Dict[str, Any]:
        """The upload checks of manual §14.5.5.1 as a dict {"passed": bool, "checks": [...]}."""
        wp = -1 if wcek_present is None else int(bool(wcek_present))
        return json.loads(_c.pyesc_algorithm_check(self._p, wp))

    def check(self, wcek_present: Optional[bool] = None) -> Tuple[bool, List[Check]]:
        r = self.check_report(wcek_present)
        return r["passed"], [Check(c["name"], c["status"], c.get("detail", ""))
                             for c in r["checks"]]

    def extract(self, cek: Cek, out_dir: PathLike) -> None:
        """Extract to out_dir (must not exist), decrypting secrets; removed on failure."""
        _c.pyesc_algorithm_extract(self._p, cek._p, os.fspath(out_dir))


def encrypt_dataset(in_dir: PathLike, out_dir: PathLike, cek: Cek, *,
                    format: FileFormat = FileFormat.V1, dataset_version: Optional[str] = None,
                    project_id: Optional[str] = None, role: Optional[str] = None,
                    asset: Optional[str] = None, key_id: Optional[str] = None) -> None:
    """Encrypt every file under in_dir to out_dir/<relpath>.bkenc plus a MAC'd manifest (v1)."""
    _c.pyesc_dataset_encrypt(os.fspath(in_dir), os.fspath(out_dir), cek._p, int(format),
                             project_id, role, asset, key_id, dataset_version)


def decrypt_dataset(in_dir: PathLike, out_dir: PathLike, cek: Cek, *,
                    require_manifest: bool = False, project_id: Optional[str] = None,
                    role: Optional[str] = None, asset: Optional[str] = None,
                    key_id: Optional[str] = None) -> None:
    """Decrypt a dataset folder; with a manifest everything is checked before any plaintext
    is written (MismatchError for missing, added, swapped or rolled-back files)."""
    _c.pyesc_dataset_decrypt(os.fspath(in_dir), os.fspath(out_dir), cek._p,
                             int(bool(require_manifest)), project_id, role, asset, key_id)


class ManifestEntry(NamedTuple):
    path: str
    size: int
    hdrtag: bytes


class Manifest(_Handle):
    """A decrypted dataset manifest (the list of files, sizes and header tags)."""

    _free = staticmethod(_c.escrow_manifest_free)

    def __init__(self, data: BytesLike, cek: Cek) -> None:
        super().__init__(_c.pyesc_manifest_decode(cek._p, data))

    @classmethod
    def load(cls, path: PathLike, cek: Cek) -> "Manifest":
        p = os.fspath(path)
        if os.path.isdir(p):
            p = os.path.join(p, MANIFEST_FILE)
        with open(p, "rb") as f:
            return cls(f.read(), cek)

    def __len__(self) -> int:
        return _c.escrow_manifest_count(self._p)

    def __getitem__(self, i: int) -> ManifestEntry:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("manifest index out of range")
        path, size, tag = _c.pyesc_manifest_entry(self._p, i)
        return ManifestEntry(path, size, tag)

    def __iter__(self) -> Iterator[ManifestEntry]:
        for i in range(len(self)):
            yield self[i]

    def find(self, path: str) -> int:
        """Index of path (NotFoundError if absent)."""
        return _c.pyesc_manifest_find(self._p, path)

    def __contains__(self, path: object) -> bool:
        from .errors import NotFoundError
        try:
            self.find(str(path))
            return True
        except NotFoundError:
            return False

    @property
    def dataset_version(self) -> Optional[str]:
        return _c.escrow_manifest_dataset_version(self._p)
