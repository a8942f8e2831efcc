"""Exceptions raised by the escrow package: one class per ESCROW_E_* family.

Every class derives from EscrowError, which carries ``code`` (the negative ESCROW_E_* value)
and ``message`` (libescrow's detailed message for the failed call, never secret material).
Classes also derive from the closest built-in exception, so ``except ValueError`` or
``except OSError`` keep working in code that does not know about escrow.
"""
from __future__ import annotations

from typing import Dict, Type

OK = 0
E_INVALID = -1
E_NOMEM = -2
E_IO = -3
E_FORMAT = -4
E_AUTH = -5
E_KEY = -6
E_UNSUPPORTED = -7
E_TRUNCATED = -8
E_LIMIT = -9
E_CRYPTO = -10
E_NOTFOUND = -11
E_EXISTS = -12
E_STATE = -13
E_BUFSIZE = -14
E_MISMATCH = -15
E_CHECK = -16

CODE_NAMES: Dict[int, str] = {
    E_INVALID: "ESCROW_E_INVALID", E_NOMEM: "ESCROW_E_NOMEM", E_IO: "ESCROW_E_IO",
    E_FORMAT: "ESCROW_E_FORMAT", E_AUTH: "ESCROW_E_AUTH", E_KEY: "ESCROW_E_KEY",
    E_UNSUPPORTED: "ESCROW_E_UNSUPPORTED", E_TRUNCATED: "ESCROW_E_TRUNCATED",
    E_LIMIT: "ESCROW_E_LIMIT", E_CRYPTO: "ESCROW_E_CRYPTO", E_NOTFOUND: "ESCROW_E_NOTFOUND",
    E_EXISTS: "ESCROW_E_EXISTS", E_STATE: "ESCROW_E_STATE", E_BUFSIZE: "ESCROW_E_BUFSIZE",
    E_MISMATCH: "ESCROW_E_MISMATCH", E_CHECK: "ESCROW_E_CHECK",
}


class EscrowError(Exception):
    """A libescrow call failed. ``code`` is the ESCROW_E_* value, ``message`` the reason."""

    code: int = 0

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    @property
    def code_name(self) -> str:
        return CODE_NAMES.get(self.code, str(self.code))

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(EscrowError, ValueError):
    code = E_INVALID


class OutOfMemoryError(EscrowError, MemoryError):
    code = E_NOMEM


class EscrowIOError(EscrowError, OSError):
    code = E_IO

    def __str__(self) -> str:  # OSError's __str__ would print the args tuple
        return self.message


class FormatError(EscrowError, ValueError):
    code = E_FORMAT


class AuthenticationError(EscrowError):
    """Wrong key, or the data was altered. Nothing unverified was released."""
    code = E_AUTH


class KeyMaterialError(EscrowError, ValueError):
    code = E_KEY


class UnsupportedError(EscrowError):
    code = E_UNSUPPORTED


class TruncatedError(EscrowError):
    code = E_TRUNCATED


class LimitError(EscrowError):
    code = E_LIMIT


class CryptoError(EscrowError):
    code = E_CRYPTO


class NotFoundError(EscrowError, LookupError):
    code = E_NOTFOUND


class ExistsError(EscrowError, FileExistsError):
    code = E_EXISTS

    def __str__(self) -> str:
        return self.message


class StateError(EscrowError):
    code = E_STATE


class BufferSizeError(EscrowError):
    code = E_BUFSIZE


class MismatchError(EscrowError):
    """Authentic data in the wrong place: path, context, header tag or manifest mismatch."""
    code = E_MISMATCH


class CheckError(EscrowError):
    code = E_CHECK


_BY_CODE: Dict[int, Type[EscrowError]] = {
    cls.code: cls for cls in (
        InvalidArgumentError, OutOfMemoryError, EscrowIOError, FormatError,
        AuthenticationError, KeyMaterialError, UnsupportedError, TruncatedError, LimitError,
        CryptoError, NotFoundError, ExistsError, StateError, BufferSizeError, MismatchError,
        CheckError)
}


def error_class(code: int) -> Type[EscrowError]:
    """The exception class for an ESCROW_E_* code (EscrowError for unknown codes)."""
    return _BY_CODE.get(code, EscrowError)


def _make_error(code: int, message: str) -> EscrowError:
    """Called by the C layer (GIL held) to build the exception of a failed call."""
    return error_class(code)(message, code)
