"""SAS URLs: signing (service and account SAS, as Azure's SDKs sign) and signature checks.

Judging a URL as the EscrowAI UI does is escrow.check_sas (criteria.py)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

from ._native import c as _c

SAS_PATH_STYLE = 0x1


@dataclass
class SasSignOptions:
    """What a SAS grants. kind "service" (a container, or a blob with blob=...) or "account"."""
    account: str
    expiry: Optional[str] = None
    permissions: Optional[str] = None
    kind: str = "service"
    container: Optional[str] = None
    blob: Optional[str] = None
    resource: Optional[str] = None
    snapshot: Optional[str] = None
    identifier: Optional[str] = None
    start: Optional[str] = None
    ip: Optional[str] = None
    protocol: Optional[str] = None
    version: Optional[str] = None
    services: Optional[str] = None
    resource_types: Optional[str] = None
    encryption_scope: Optional[str] = None
    cache_control: Optional[str] = None
    content_disposition: Optional[str] = None
    content_encoding: Optional[str] = None
    content_language: Optional[str] = None
    content_type: Optional[str] = None

    def _fields(self):
        order = ["kind", "account", "container", "blob", "resource", "snapshot", "identifier",
                 "permissions", "start", "expiry", "ip", "protocol", "version", "services",
                 "resource_types", "encryption_scope", "cache_control", "content_disposition",
                 "content_encoding", "content_language", "content_type"]
        assert len(order) == len(fields(self))
        return [getattr(self, k) or "" for k in order]


def _opts(options: Optional[SasSignOptions], kw) -> SasSignOptions:
    if options is None:
        options = SasSignOptions(**kw)
    elif kw:
        raise TypeError("give either a SasSignOptions or keyword arguments")
    return options


def sas_sign(account_key: str, options: Optional[SasSignOptions] = None, **kw) -> str:
    """The SAS token ("sv=...&sig=...") for options, signed with the Base64 account key."""
    return _c.pyesc_sas_sign(_opts(options, kw)._fields(), None, account_key, 0, 0)


def sas_sign_url(account_key: str, options: Optional[SasSignOptions] = None, *,
                 endpoint: Optional[str] = None, **kw) -> str:
    """The whole SAS URL (endpoint None: https://<account>.blob.core.windows.net)."""
    return _c.pyesc_sas_sign(_opts(options, kw)._fields(), endpoint, account_key, 1, 0)


def sas_string_to_sign(options: Optional[SasSignOptions] = None, **kw) -> str:
    """The exact text the signature covers (for diagnosing "Signature did not match")."""
    return _c.pyesc_sas_sign(_opts(options, kw)._fields(), None, "", 0, 1)


def sas_verify(url: str, account_key: str, *, path_style: bool = False) -> bool:
    """True if the URL's signature matches the account key (only the signature is judged)."""
    return bool(_c.pyesc_sas_verify(url, account_key, SAS_PATH_STYLE if path_style else 0))
