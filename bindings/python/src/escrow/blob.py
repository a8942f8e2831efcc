"""The blob client: container SAS URLs (Azure Blob Storage, Azurite) and file:// folders."""
from __future__ import annotations

import os
from typing import Any, BinaryIO, Callable, Iterator, NamedTuple, Optional, Union

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

    def get_to(self, name: str, out: Union[BinaryIO, Callable[[bytes], Any]], *,
               offset: int = 0, length: Optional[int] = None,
               progress: Optional[Callable[[int, int], None]] = None) -> None:
        """Stream a blob (or a byte range) into a binary file object or a callable taking
        bytes, in order, each byte once (cut transfers resume); memory stays bounded. An
        exception the writer raises stops the download and is raised here."""
        write = out if callable(out) else out.write
        _c.pyesc_blob_get_stream(self._p, name, offset, TO_END if length is None else length,
                                 write, progress)

    def get_decrypt_to(self, name: str, cek: Cek, out: Union[BinaryIO, Callable[[bytes], Any]],
                       *, expect_path: Optional[str] = None,
                       progress: Optional[Callable[[int, int], None]] = None) -> None:
        """Stream a BKENC v1 blob's verified plaintext as it downloads. Only when this returns
        is the whole stream authentic: after an exception, discard what was written."""
        write = out if callable(out) else out.write
        _c.pyesc_blob_get_decrypt_stream(self._p, name, cek._p, expect_path, write, progress)

    def get_file(self, name: str, out_path: PathLike, *,
                 progress: Optional[Callable[[int, int], None]] = None) -> None:
        """Download a blob to a file (written atomically; resumes cut transfers)."""
        _c.pyesc_blob_get_file_p(self._p, name, os.fspath(out_path), progress)

    def get_decrypt_file(self, name: str, cek: Cek, out_path: PathLike, *,
                         expect_path: Optional[str] = None,
                         expect_hdrtag: Optional[BytesLike] = None,
                         progress: Optional[Callable[[int, int], None]] = None) -> None:
        """Download and decrypt a BKENC blob to a file: no plaintext is left after a failure."""
        _c.pyesc_blob_get_decrypt_file_p(self._p, name, cek._p, expect_path,
                                         _hdrtag(expect_hdrtag), os.fspath(out_path), progress)

    def put_file(self, name: str, path: PathLike, *, skip_same: bool = False,
                 progress: Optional[Callable[[int, int], None]] = None) -> bool:
        """Upload a file as blob name; returns True when skip_same found it already there.
        progress(done, total) is called with bytes sent."""
        return bool(_c.pyesc_blob_put_file_p(self._p, name, os.fspath(path),
                                             1 if skip_same else 0, progress))

    @property
    def stats(self) -> BlobStats:
        return BlobStats(*_c.pyesc_blob_stats(self._p))
