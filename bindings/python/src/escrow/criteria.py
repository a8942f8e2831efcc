"""Validation criteria (Cerberus 1.3 schemas in JSON) and SAS URL checks."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, NamedTuple, Optional, Tuple, Union

from ._native import c as _c
from .errors import FormatError
from .keys import PathLike, _Handle

JsonInput = Union[str, bytes, bytearray, memoryview, Dict[str, Any]]


def _text(v: JsonInput) -> Union[bytes, bytearray, memoryview]:
    if isinstance(v, dict):
        return json.dumps(v).encode()
    if isinstance(v, str):
        return v.encode()
    return v


class SchemaError(FormatError):
    """Criteria Cerberus would refuse; ``schema_errors`` is its SchemaError tree (or None)."""

    schema_errors: Any = None


class Validation(NamedTuple):
    valid: bool
    errors: Dict[str, Any]  # Cerberus's validator.errors ({} when valid)


class Criteria(_Handle):
    """Compiled criteria: immutable, usable from several threads at once."""

    _free = staticmethod(_c.escrow_criteria_free)

    def __init__(self, schema: JsonInput, *, allow_unknown: bool = False,
                 require_all: bool = False) -> None:
        text = _text(schema)
        self._allow_unknown = int(bool(allow_unknown))
        self._require_all = int(bool(require_all))
        try:
            ptr = _c.pyesc_criteria_compile(text, self._allow_unknown, self._require_all)
        except FormatError as e:
            err = SchemaError(e.message, e.code)
            tree = _c.pyesc_criteria_schema_errors(text, self._allow_unknown, self._require_all)
            err.schema_errors = json.loads(tree) if tree else None
            raise err from None
        super().__init__(ptr)

    def validate(self, document: JsonInput) -> Validation:
        """Validate a JSON document (text or dict). Breaking the rules is not an error."""
        valid, errors = _c.pyesc_criteria_validate(self._p, _text(document))
        return Validation(bool(valid), json.loads(errors))

    def validate_file(self, path: PathLike) -> Validation:
        """Validate a JSON file, read in chunks."""
        valid, errors = _c.pyesc_criteria_validate_file(self._p, os.fspath(path),
                                                        self._allow_unknown, self._require_all)
        return Validation(bool(valid), json.loads(errors))

    def validate_report(self, json_data: JsonInput) -> Tuple[bool, Dict[str, Any]]:
        """Validate a report's json_data as the Enclave API receives it (object, JSON string
        or base64 of JSON); returns (valid, {"status": ..., "message": ...})."""
        valid, answer = _c.pyesc_criteria_validate_report(self._p, _text(json_data))
        return bool(valid), json.loads(answer)

    def audit(self) -> Dict[str, Any]:
        """Every channel through which a conforming report can carry free-form information."""
        return json.loads(_c.pyesc_criteria_audit(self._p))


def check_pair(line: JsonInput) -> Dict[str, Any]:
    """One line of the differential protocol: {"schema", "document", "options"?} in, the
    Cerberus outcome out ({"valid", "errors"} or {"valid": None, "exception", ...})."""
    return json.loads(_c.pyesc_criteria_check_pair(_text(line)))


SAS_ALLOW_LOOPBACK_HTTP = 0x100
SAS_PATH_STYLE = 0x1


class SasCheck(NamedTuple):
    status: str   # "valid", "invalid", "expiring", "expired" or "not yet valid"
    message: str  # the EscrowAI UI's message for the status
    reason: str   # the rule that decided, in words (never the signature)

    @property
    def ok(self) -> bool:
        return self.status == "valid"


def check_sas(url: str, now: Optional[str] = None, *, allow_loopback_http: bool = False,
              path_style: bool = False) -> SasCheck:
    """Judge a dataset SAS URL as the EscrowAI UI does, at now (RFC 3339; None: the clock)."""
    flags = (SAS_ALLOW_LOOPBACK_HTTP if allow_loopback_http else 0) | \
        (SAS_PATH_STYLE if path_style else 0)
    _status, name, message, reason = _c.pyesc_sas_check(url, now, flags)
    return SasCheck(name, message, reason)
