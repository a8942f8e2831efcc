"""The blob client: container SAS URLs (Azure Blob Storage, Azurite) and file:// folders."""
from __future__ import annotations

import os
from typing import Iterator, NamedTuple, Optional

from ._native import c as _c
from .envelope import _hdrtag
from .keys import BytesLike, Cek, PathLike, _Handle

ALLOW_LOOPBACK_HTTP = 0x1
PATH_STYLE = 0x2
TO_END = (1 << 64) - 1


class BlobItem(NamedTuple):
    name: str
    size: int
    content_md5: Optional[str]
    etag: Optional[str]
    last_modified: Optional[str]


class BlobStats(NamedTuple):
    requests: int
    retries: int
    bytes_down: int
    bytes_up: int


class BlobClient(_Handle):
    """A client for one container SAS URL or one file:// folder. Transfers retry transient
    failures and release the GIL; one client is used by one thread at a time."""

    _free = staticmethod(_c.escrow_blob_close)

    def __init__(self, url: str, *, allow_loopback_http: bool = False, path_style: bool = False,
                 max_retries: int = 0, ca_file: Optional[PathLike] = None) -> None:
        flags = (ALLOW_LOOPBACK_HTTP if allow_loopback_http else 0) | \
            (PATH_STYLE if path_style else 0)
        super().__init__(_c.pyesc_blob_open(url, flags, max_retries,
                                            None if ca_file is None else os.fspath(ca_file)))

    def list(self, prefix: Optional[str] = None) -> Iterator[BlobItem]:
        """Iterate over the blobs whose names start with prefix, in name order. The listing is
        fetched (all pages) when iteration starts."""
        raw = _c.pyesc_blob_list(self._p, prefix)
        fields = raw.split(b"\0")
        for i in range(0, len(fields) - 1, 5):
            name, size, md5, etag, lm = (f.decode("utf-8", "replace") for f in fields[i:i + 5])
            yield BlobItem(name, int(size), md5 or None, etag or None, lm or None)

    def __iter__(self) -> Iterator[BlobItem]:
        return self.list()

    def stat(self, name: str):
        """(size, Content-MD5 base64 or None) of one blob."""
        size, md5 = _c.pyesc_blob_stat(self._p, name)
        return size, (md5 or None)

    def get(self, name: str, offset: int = 0, length: Optional[int] = None) -> bytes:
        """A blob (or a byte range of it) in memory."""
        return _c.pyesc_blob_get(self._p, name, offset, TO_END if length is None else length)

    def get_file(self, name: str, out_path: PathLike) -> None:
        """Download a blob to a file (written atomically; resumes cut transfers)."""
        _c.pyesc_blob_get_file(self._p, name, os.fspath(out_path))

    def get_decrypt_file(self, name: str, cek: Cek, out_path: PathLike, *,
                         expect_path: Optional[str] = None,
                         expect_hdrtag: Optional[BytesLike] = None) -> None:
        """Download and decrypt a BKENC blob to a file: no plaintext is left after a failure."""
        _c.pyesc_blob_get_decrypt_file(self._p, name, cek._p, expect_path, _hdrtag(expect_hdrtag),
                                       os.fspath(out_path))

    def put_file(self, name: str, path: PathLike, *, skip_same: bool = False) -> bool:
        """Upload a file as blob name; returns True when skip_same found it already there."""
        return bool(_c.pyesc_blob_put_file(self._p, name, os.fspath(path), 1 if skip_same else 0))

    @property
    def stats(self) -> BlobStats:
        return BlobStats(*_c.pyesc_blob_stats(self._p))
