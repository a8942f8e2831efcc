"""Keys: the CEK (32-byte content key), the KEK (RSA key pair) and the WCEK (wrapped CEK)."""
from __future__ import annotations

import enum
import os
from typing import Tuple, Union

from ._native import c as _c

BytesLike = Union[bytes, bytearray, memoryview]
PathLike = Union[str, "os.PathLike[str]"]


class CekEncoding(enum.IntEnum):
    RAW = 0
    BASE64 = 1


class KeyEncoding(enum.IntEnum):
    DER = 0
    PEM = 1
    BASE64 = 2


class OaepHash(enum.IntEnum):
    AUTO = 0
    SHA256 = 1
    SHA1 = 2


class _Handle:
    """Owns one C handle; freed by close(), by the context manager, or when collected."""

    _free = None  # the C free function, set by subclasses

    def __init__(self, ptr) -> None:
        self._ptr = ptr

    @property
    def _p(self):
        if self._ptr is None:
            from .errors import StateError
            raise StateError("the handle is closed", -13)
        return self._ptr

    def close(self) -> None:
        p, self._ptr = self._ptr, None
        if p is not None:
            type(self)._free(p)

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class Cek(_Handle):
    """A content encryption key. The key bytes stay in libescrow's protected memory."""

    _free = staticmethod(_c.escrow_cek_free)

    def __init__(self, ptr) -> None:
        super().__init__(ptr)
        self._borrowers = 0   # C objects that keep using this key (decryptors)
        self._pending = None  # the pointer to free once the last borrower is done

    def _borrow(self):
        p = self._p
        self._borrowers += 1
        return p

    def _release(self) -> None:
        self._borrowers -= 1
        if self._borrowers == 0 and self._pending is not None:
            p, self._pending = self._pending, None
            Cek._free(p)

    def close(self) -> None:
        """Wipe and free the key; if a live Decryptor still needs it, that happens when the
        decryptor is closed. Either way the Cek is unusable from now on."""
        if getattr(self, "_borrowers", 0) > 0 and self._ptr is not None:
            self._pending, self._ptr = self._ptr, None
            return
        super().close()

    @classmethod
    def generate(cls) -> "Cek":
        return cls(_c.escrow_cek_generate())

    @classmethod
    def from_bytes(cls, data: BytesLike) -> "Cek":
        """32 raw bytes, or canonical base64 of 32 bytes (one optional trailing newline)."""
        return cls(_c.escrow_cek_from_bytes(data))

    @classmethod
    def load(cls, path: PathLike) -> "Cek":
        return cls(_c.escrow_cek_load(os.fspath(path)))

    def save(self, path: PathLike, encoding: CekEncoding = CekEncoding.RAW) -> None:
        """Write with mode 0600; an existing file is never replaced (ExistsError)."""
        _c.escrow_cek_save(self._p, os.fspath(path), int(encoding))

    def export(self) -> bytes:
        """The 32 key bytes (keep such copies to a minimum)."""
        return _c.pyesc_cek_export(self._p)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cek):
            return NotImplemented
        return bool(_c.escrow_cek_equal(self._p, other._p))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "<escrow.Cek (closed)>" if self.closed else "<escrow.Cek>"

    @staticmethod
    def filename() -> str:
        """A fresh file name "cek_<uuid4>.key" (manual §12.5)."""
        return _c.pyesc_cek_filename()


class Kek(_Handle):
    """An RSA key pair (or its public half) that wraps CEKs."""

    _free = staticmethod(_c.escrow_kek_free)

    @classmethod
    def generate(cls, bits: int = 0) -> "Kek":
        return cls(_c.escrow_kek_generate(bits))

    @classmethod
    def public_from_bytes(cls, data: BytesLike) -> "Kek":
        return cls(_c.escrow_kek_public_from_bytes(data))

    @classmethod
    def private_from_bytes(cls, data: BytesLike) -> "Kek":
        return cls(_c.escrow_kek_private_from_bytes(data))

    @classmethod
    def load_public(cls, path: PathLike) -> "Kek":
        return cls(_c.escrow_kek_public_load(os.fspath(path)))

    @classmethod
    def load_private(cls, path: PathLike) -> "Kek":
        return cls(_c.escrow_kek_private_load(os.fspath(path)))

    def public_bytes(self, encoding: KeyEncoding = KeyEncoding.PEM) -> bytes:
        return _c.pyesc_kek_public_export(self._p, int(encoding))

    def private_bytes(self, encoding: KeyEncoding = KeyEncoding.PEM) -> bytes:
        """Unencrypted PKCS#8. The returned bytes are an ordinary Python object: the C copy is
        wiped, but Python cannot wipe its own; keep this call out of long-lived processes."""
        return _c.pyesc_kek_private_export(self._p, int(encoding))

    def save_public(self, path: PathLike, encoding: KeyEncoding = KeyEncoding.PEM) -> None:
        _c.escrow_kek_public_save(self._p, os.fspath(path), int(encoding))

    def save_private(self, path: PathLike) -> None:
        _c.escrow_kek_private_save(self._p, os.fspath(path))

    @property
    def has_private(self) -> bool:
        return bool(_c.escrow_kek_has_private(self._p))

    @property
    def bits(self) -> int:
        return _c.escrow_kek_bits(self._p)

    @property
    def key_id(self) -> str:
        """"sha256:<hex>" of the SPKI DER (BKENC context 0x05)."""
        return _c.pyesc_kek_key_id(self._p)

    def wrap(self, cek: Cek, hash: OaepHash = OaepHash.AUTO) -> bytes:
        """Wrap a CEK with RSA-OAEP (AUTO means SHA-256)."""
        return _c.pyesc_wcek_wrap(self._p, cek._p, int(hash))

    def unwrap(self, wcek: BytesLike, hash: OaepHash = OaepHash.AUTO) -> Cek:
        """Unwrap a WCEK with the private half (AUTO tries SHA-256, then SHA-1)."""
        return self.unwrap_ex(wcek, hash)[0]

    def unwrap_ex(self, wcek: BytesLike, hash: OaepHash = OaepHash.AUTO) -> Tuple[Cek, OaepHash]:
        """Like unwrap(), also telling which OAEP hash worked."""
        ptr, used = _c.pyesc_wcek_unwrap(self._p, wcek, int(hash))
        return Cek(ptr), OaepHash(used)

    def __repr__(self) -> str:
        if self.closed:
            return "<escrow.Kek (closed)>"
        return f"<escrow.Kek {self.bits} bits{' private' if self.has_private else ''}>"

    @staticmethod
    def filenames(project: str, role: str) -> Tuple[str, str]:
        """Manual §12.5 names (public, private) of a project's KEK for role "ao" or "ds"."""
        return tuple(_c.pyesc_kek_filenames(project, role))  # type: ignore[return-value]


def wrap_cek(kek: Kek, cek: Cek, hash: OaepHash = OaepHash.AUTO) -> bytes:
    return kek.wrap(cek, hash)


def unwrap_cek(kek: Kek, wcek: BytesLike, hash: OaepHash = OaepHash.AUTO) -> Cek:
    return kek.unwrap(wcek, hash)


def wcek_filename() -> str:
    """A fresh file name "wcek_<uuid4>.key.bkenc" (manual §12.5)."""
    return _c.pyesc_wcek_filename()


__all__ = ["Cek", "Kek", "CekEncoding", "KeyEncoding", "OaepHash", "wrap_cek", "unwrap_cek",
           "wcek_filename"]
