"""BKENC v1 envelope encryption: streams, file-like objects, random access, files, legacy v0.

Decryption only ever hands out plaintext from chunks whose tag verified; the whole plaintext
is authentic only once the stream is finished (``finalize()``, or a DecryptReader that
reached end of file without raising).
"""
from __future__ import annotations

import enum
import io
import os
from typing import BinaryIO, Dict, Optional, Union

from ._native import c as _c

from .keys import BytesLike, Cek, PathLike, _Handle

DEFAULT_BUFFER_SIZE = 1 << 20
HDRTAG_BYTES = 32
CONTEXT_TYPES = {"project_id": 1, "role": 2, "asset": 3, "path": 4, "key_id": 5}


class FileFormat(enum.IntEnum):
    UNKNOWN = 0
    V1 = 1  # BKENC v1
    V0 = 2  # legacy "Salted__"


def detect_format(data: BytesLike) -> FileFormat:
    """Tell the format from the first bytes of a file (8 are enough)."""
    return FileFormat(_c.pyesc_detect_format(data))


def _nbytes(data: BytesLike) -> int:
    return data.nbytes if isinstance(data, memoryview) else len(data)


def _hdrtag(tag: Optional[BytesLike]) -> Optional[BytesLike]:
    if tag is not None and _nbytes(tag) != HDRTAG_BYTES:
        raise ValueError("expect_hdrtag must be 32 bytes")
    return tag


class Header:
    """A BKENC v1 header: parsed from bytes (no key needed) or taken from a live stream."""

    def __init__(self, ptr, owner: object = None) -> None:
        self._ptr = ptr
        self._owner = owner  # keeps the stream whose header this is alive

    @classmethod
    def parse(cls, data: BytesLike) -> "Header":
        """Parse the header at the start of data. TruncatedError if more bytes are needed."""
        ptr, _needed = _c.pyesc_header_parse(data)
        return cls(ptr, None)

    def verify(self, cek: Cek) -> None:
        """Check the header tag with a CEK: AuthenticationError for a wrong key or an edit."""
        _c.escrow_header_verify(self._ptr, cek._p)

    @property
    def length(self) -> int:
        return _c.escrow_header_length(self._ptr)

    @property
    def log2cs(self) -> int:
        return _c.escrow_header_log2cs(self._ptr)

    @property
    def chunk_size(self) -> int:
        return 1 << self.log2cs

    @property
    def salt(self) -> bytes:
        return _c.pyesc_header_salt(self._ptr)

    @property
    def hdrtag(self) -> bytes:
        return _c.pyesc_header_hdrtag(self._ptr)

    def context_value(self, tlv_type: int) -> Optional[str]:
        return _c.escrow_header_context(self._ptr, tlv_type)

    @property
    def context(self) -> Dict[str, str]:
        """The known context fields present (project_id, role, asset, path, key_id)."""
        out = {}
        for name, t in CONTEXT_TYPES.items():
            v = _c.escrow_header_context(self._ptr, t)
            if v is not None:
                out[name] = v
        return out

    def __del__(self) -> None:
        if self._owner is None and getattr(self, "_ptr", None) is not None:
            _c.escrow_header_free(self._ptr)
            self._ptr = None

    def __repr__(self) -> str:
        return f"<escrow.Header log2cs={self.log2cs} context={self.context!r}>"


def ciphertext_size(plaintext_size: int, log2cs: int = 16, header_len: int = 78) -> int:
    """Ciphertext size of a plaintext size (2**64-1 when impossible)."""
    return _c.escrow_bkenc_ciphertext_size(plaintext_size, log2cs, header_len)


def plaintext_size(file_size: int, log2cs: int = 16, header_len: int = 78) -> int:
    """Plaintext size of a ciphertext size; FormatError if no plaintext has that size."""
    return _c.pyesc_plaintext_size(file_size, log2cs, header_len)


class Encryptor(_Handle):
    """A sans-I/O BKENC v1 encryptor: update() returns ciphertext, finalize() the rest."""

    _free = staticmethod(_c.escrow_encryptor_free)

    def __init__(self, cek: Cek, *, log2cs: int = 0, project_id: Optional[str] = None,
                 role: Optional[str] = None, asset: Optional[str] = None,
                 path: Optional[str] = None, key_id: Optional[str] = None) -> None:
        super().__init__(_c.pyesc_encryptor_new(cek._p, log2cs, project_id, role, asset, path,
                                                key_id))
        self._buf = bytearray()

    def update_bound(self, n: int) -> int:
        return _c.escrow_encryptor_update_bound(self._p, n)

    def update_into(self, data: BytesLike, out: Union[bytearray, memoryview]) -> int:
        """Encrypt data into out (at least update_bound(len(data)) bytes); returns bytes written."""
        return _c.pyesc_encryptor_update(self._p, out, data)

    def update(self, data: BytesLike) -> bytes:
        buf = bytearray(self.update_bound(_nbytes(data)))
        n = _c.pyesc_encryptor_update(self._p, buf, data)
        del buf[n:]
        return bytes(buf)

    def finalize_into(self, out: Union[bytearray, memoryview]) -> int:
        return _c.pyesc_encryptor_final(self._p, out)

    def finalize(self) -> bytes:
        buf = bytearray(_c.escrow_encryptor_final_bound(self._p))
        n = _c.pyesc_encryptor_final(self._p, buf)
        del buf[n:]
        return bytes(buf)

    @property
    def header(self) -> Header:
        return Header(_c.escrow_encryptor_header(self._p), self)

    @property
    def plaintext_size(self) -> int:
        return _c.pyesc_encryptor_plaintext_size(self._p)


class Decryptor(_Handle):
    """A sans-I/O BKENC v1 decryptor. update() returns verified plaintext only; the stream is
    authentic only once finalize() has returned."""

    _free = staticmethod(_c.escrow_decryptor_free)

    def __init__(self, cek: Cek, *, expect_path: Optional[str] = None,
                 expect_hdrtag: Optional[BytesLike] = None) -> None:
        super().__init__(_c.pyesc_decryptor_new(cek._p, expect_path, _hdrtag(expect_hdrtag)))
        # the C decryptor borrows the key until the header is verified: closing the Cek
        # first must not free it under the decryptor
        self._cek = cek
        cek._borrow()

    def close(self) -> None:
        was_open = self._ptr is not None
        super().close()
        if was_open:
            self._cek._release()

    def update_bound(self, n: int) -> int:
        return _c.escrow_decryptor_update_bound(self._p, n)

    def update_into(self, data: BytesLike, out: Union[bytearray, memoryview]) -> int:
        return _c.pyesc_decryptor_update(self._p, out, data)

    def update(self, data: BytesLike) -> bytes:
        buf = bytearray(self.update_bound(_nbytes(data)))
        n = _c.pyesc_decryptor_update(self._p, buf, data)
        del buf[n:]
        return bytes(buf)

    def finalize_into(self, out: Union[bytearray, memoryview]) -> int:
        return _c.pyesc_decryptor_final(self._p, out)

    def finalize(self) -> bytes:
        buf = bytearray(_c.escrow_decryptor_final_bound(self._p))
        n = _c.pyesc_decryptor_final(self._p, buf)
        del buf[n:]
        return bytes(buf)

    @property
    def header(self) -> Optional[Header]:
        """The verified header, or None until it has been read and verified."""
        h = _c.escrow_decryptor_header(self._p)
        return None if h is None else Header(h, self)


def encrypt(data: BytesLike, cek: Cek, **options) -> bytes:
    """Encrypt bytes in memory to a whole BKENC v1 file (options as for Encryptor)."""
    with Encryptor(cek, **options) as e:
        return e.update(data) + e.finalize()


def decrypt(data: BytesLike, cek: Cek, *, expect_path: Optional[str] = None,
            expect_hdrtag: Optional[BytesLike] = None) -> bytes:
    """Decrypt a whole BKENC v1 file held in memory; raises unless all of it is authentic."""
    with Decryptor(cek, expect_path=expect_path, expect_hdrtag=expect_hdrtag) as d:
        return d.update(data) + d.finalize()


class EncryptWriter(io.RawIOBase):
    """A writable binary file that encrypts to another one (BKENC v1).

    close() (or leaving the ``with`` block normally) writes the final chunk; leaving the block
    with an exception does not, so the partial output can never decrypt as complete.
    """

    def __init__(self, fileobj: BinaryIO, cek: Cek, *, closefd: bool = False, **options) -> None:
        super().__init__()
        self._f = fileobj
        self._closefd = closefd
        self._enc = Encryptor(cek, **options)
        self._buf = bytearray()
        self.hdrtag: Optional[bytes] = None

    def writable(self) -> bool:
        return True

    def write(self, b: BytesLike) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("write to a closed EncryptWriter")
        n = _nbytes(b)
        bound = self._enc.update_bound(n)
        if len(self._buf) < bound:
            self._buf = bytearray(bound)
        w = self._enc.update_into(b, self._buf)
        if w:
            self._f.write(memoryview(self._buf)[:w])
        return n

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._enc is not None and not self._enc.closed:
                buf = bytearray(_c.escrow_encryptor_final_bound(self._enc._p))
                w = self._enc.finalize_into(buf)
                self._f.write(memoryview(buf)[:w])
                self.hdrtag = self._enc.header.hdrtag
                self._f.flush()
        finally:
            self._abandon()

    def _abandon(self) -> None:
        if self._enc is not None:
            self._enc.close()
        if self._closefd:
            self._f.close()
        super().close()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abandon()
        else:
            self.close()


class DecryptReader(io.RawIOBase):
    """A readable binary file of the verified plaintext of a BKENC v1 file object.

    Reading raises on the first chunk that fails; end of file is returned only after the
    final chunk verified, so a truncated input never looks complete."""

    def __init__(self, fileobj: BinaryIO, cek: Cek, *, expect_path: Optional[str] = None,
                 expect_hdrtag: Optional[BytesLike] = None, buffer_size: int = DEFAULT_BUFFER_SIZE,
                 closefd: bool = False) -> None:
        super().__init__()
        self._f = fileobj
        self._closefd = closefd
        self._dec = Decryptor(cek, expect_path=expect_path, expect_hdrtag=expect_hdrtag)
        self._bufsize = buffer_size
        self._out = bytearray()
        self._pos = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        while self._pos >= len(self._out) and not self._eof:
            self._out = bytearray()
            self._pos = 0
            chunk = self._f.read(self._bufsize)
            if not chunk:
                out = bytearray(_c.escrow_decryptor_final_bound(self._dec._p))
                n = self._dec.finalize_into(out)
                del out[n:]
                self._out = out
                self._eof = True
                self.header = self._dec.header
                return
            out = bytearray(self._dec.update_bound(len(chunk)))
            n = self._dec.update_into(chunk, out)
            del out[n:]
            self._out = out

    def readinto(self, b) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("read from a closed DecryptReader")
        self._fill()
        mv = memoryview(b).cast("B")
        n = min(len(mv), len(self._out) - self._pos)
        mv[:n] = self._out[self._pos:self._pos + n]
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if size is None or size < 0:
            return self.readall()
        self._fill()
        n = min(size, len(self._out) - self._pos)
        r = bytes(self._out[self._pos:self._pos + n])
        self._pos += n
        return r

    def readall(self) -> bytes:
        parts = []
        while True:
            self._fill()
            if self._pos >= len(self._out):
                break
            parts.append(bytes(self._out[self._pos:]))
            self._pos = len(self._out)
        return b"".join(parts)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._dec.close()
            if self._closefd:
                self._f.close()
        finally:
            super().close()


def open_encrypt(path_or_file: Union[PathLike, BinaryIO], cek: Cek, **options) -> EncryptWriter:
    """An EncryptWriter over a path (created, never replaced) or a binary file object."""
    if isinstance(path_or_file, (str, bytes, os.PathLike)):
        return EncryptWriter(open(path_or_file, "xb"), cek, closefd=True, **options)
    return EncryptWriter(path_or_file, cek, **options)


def open_decrypt(path_or_file: Union[PathLike, BinaryIO], cek: Cek, **options) -> DecryptReader:
    """A DecryptReader over a path or a binary file object."""
    if isinstance(path_or_file, (str, bytes, os.PathLike)):
        return DecryptReader(open(path_or_file, "rb"), cek, closefd=True, **options)
    return DecryptReader(path_or_file, cek, **options)


class Reader(_Handle):
    """Random access to the verified plaintext of a BKENC v1 file (one chunk of memory)."""

    _free = staticmethod(_c.escrow_reader_free)

    def __init__(self, path: PathLike, cek: Cek, *, expect_path: Optional[str] = None,
                 expect_hdrtag: Optional[BytesLike] = None) -> None:
        super().__init__(_c.pyesc_reader_open_file(cek._p, os.fspath(path), expect_path,
                                                   _hdrtag(expect_hdrtag)))
        self._cek = cek

    @property
    def size(self) -> int:
        return _c.pyesc_reader_size(self._p)

    def __len__(self) -> int:
        return self.size

    def pread_into(self, buf: Union[bytearray, memoryview], offset: int) -> int:
        return _c.pyesc_reader_pread(self._p, buf, offset)

    def pread(self, n: int, offset: int) -> bytes:
        """Up to n bytes at offset (short only at the end of the plaintext)."""
        buf = bytearray(max(0, n))
        got = _c.pyesc_reader_pread(self._p, buf, offset)
        del buf[got:]
        return bytes(buf)

    @property
    def header(self) -> Header:
        return Header(_c.escrow_reader_header(self._p), self)


def encrypt_file(cek: Cek, in_path: PathLike, out_path: PathLike, *,
                 format: FileFormat = FileFormat.V1, log2cs: int = 0,
                 project_id: Optional[str] = None, role: Optional[str] = None,
                 asset: Optional[str] = None, path: Optional[str] = None,
                 key_id: Optional[str] = None) -> Optional[bytes]:
    """Encrypt a file atomically; returns the v1 header tag (None for v0)."""
    tag = _c.pyesc_encrypt_file(cek._p, int(format), log2cs, project_id, role, asset, path,
                                key_id, os.fspath(in_path), os.fspath(out_path))
    return tag if format != FileFormat.V0 else None


def decrypt_file(cek: Cek, in_path: PathLike, out_path: PathLike, *,
                 expect_path: Optional[str] = None,
                 expect_hdrtag: Optional[BytesLike] = None) -> None:
    """Decrypt a v1 or v0 file atomically: after a failure no plaintext is left on disk."""
    _c.pyesc_decrypt_file(cek._p, os.fspath(in_path), os.fspath(out_path), expect_path,
                          _hdrtag(expect_hdrtag))


def encrypt_fd(cek: Cek, in_fd: int, out_fd: int, *, log2cs: int = 0,
               project_id: Optional[str] = None, role: Optional[str] = None,
               asset: Optional[str] = None, path: Optional[str] = None,
               key_id: Optional[str] = None) -> bytes:
    """Encrypt from one descriptor to another until end of input; returns the header tag."""
    return _c.pyesc_encrypt_fd(cek._p, log2cs, project_id, role, asset, path, key_id,
                               in_fd, out_fd)


def decrypt_fd(cek: Cek, in_fd: int, out_fd: int, *, expect_path: Optional[str] = None,
               expect_hdrtag: Optional[BytesLike] = None) -> None:
    """Decrypt a v1 stream between descriptors. out_fd gets verified chunks only, but a stream
    failing part-way leaves a prefix there: use decrypt_file for files."""
    _c.pyesc_decrypt_fd(cek._p, expect_path, _hdrtag(expect_hdrtag), in_fd, out_fd)


def legacy_decrypt(data: BytesLike, cek: Cek) -> bytes:
    """Decrypt a whole legacy v0 ("Salted__") file held in memory (tag verified first)."""
    return _c.pyesc_legacy_decrypt_mem(cek._p, data)


def legacy_decrypt_fd(cek: Cek, in_fd: int, out_fd: int) -> None:
    _c.pyesc_legacy_decrypt_fd(cek._p, in_fd, out_fd)


def legacy_encrypt_fd(cek: Cek, in_fd: int, out_fd: int) -> None:
    """Write legacy v0 (only for services that read nothing else)."""
    _c.escrow_legacy_encrypt_fd(cek._p, in_fd, out_fd)


