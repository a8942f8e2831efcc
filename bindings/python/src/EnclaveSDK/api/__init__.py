"""The Enclave API's operations, with the method names an OpenAPI-generated client has.

Every operation ``op`` comes in three forms, as in a generated client:

* ``op(...)`` returns the decoded answer; an error status raises
  :class:`EnclaveSDK.exceptions.ApiException` (``NotFoundException`` for 404,
  ``BadRequestException`` for 400, ...);
* ``op_with_http_info(...)`` returns an :class:`EnclaveSDK.api_response.ApiResponse`
  (``status_code``, ``headers``, ``data``, ``raw_data``);
* ``op_without_preload_content(...)`` returns the unread :class:`EnclaveSDK.rest.RESTResponse`
  whatever its status: read it in pieces (``read(n)``, ``stream()``), then ``release_conn()``.
  ``op(..., _preload_content=False)`` does the same.

Each also takes ``_request_timeout`` (seconds, or a (connect, read) pair) and ``_headers``.
"""
import io
import mimetypes
import os
import uuid

from .. import models
from ..api_client import ApiClient
from ..exceptions import ApiTypeError, ApiValueError

__all__ = ["DataApi", "LogApi", "ReportApi", "ValidateApi", "HealthApi"]

_OPTS = ("_request_timeout", "_headers", "_preload_content", "_request_auth", "_content_type",
         "_host_index", "_return_http_data_only")


def _opts(kw):
    bad = [k for k in kw if k not in _OPTS]
    if bad:
        raise ApiTypeError("got an unexpected keyword argument {!r}".format(bad[0]))
    return kw


def _mode(kw, default):
    if kw.get("_preload_content") is False:
        return "raw"
    return default


def _check_str(name, v, required=True):
    if v is None:
        if required:
            raise ApiValueError("missing the required parameter {!r}".format(name))
        return
    if not isinstance(v, str):
        raise ApiTypeError("{} must be a string, not {}".format(name, type(v).__name__))


class _Api:
    def __init__(self, api_client=None):
        self.api_client = api_client if api_client is not None else ApiClient.get_default()

    def _op(self, kw, default_mode, method, path, **a):
        o = _opts(kw)
        headers = dict(a.pop("headers", None) or {})
        headers.update(o.get("_headers") or {})
        if o.get("_content_type"):
            headers["Content-Type"] = o["_content_type"]
        return self.api_client.operation(method, path, mode=_mode(o, default_mode),
                                         _request_timeout=o.get("_request_timeout"),
                                         headers=headers, **a)


def _three(name):
    """Add ``name_with_http_info`` and ``name_without_preload_content`` built on ``_name``."""
    def deco(cls):
        impl = getattr(cls, "_" + name)

        def data(self, *args, **kw):
            return impl(self, "data", *args, **kw)

        def info(self, *args, **kw):
            return impl(self, "http_info", *args, **kw)

        def raw(self, *args, **kw):
            return impl(self, "raw", *args, **kw)

        for f, n in ((data, name), (info, name + "_with_http_info"),
                     (raw, name + "_without_preload_content")):
            f.__name__ = n
            f.__qualname__ = cls.__name__ + "." + n
            f.__doc__ = impl.__doc__
            setattr(cls, n, f)
        return cls
    return deco


@_three("api_v1_data_files_get")
@_three("api_v1_data_file_get")
@_three("api_v1_data_file_post")
class DataApi(_Api):
    """The data endpoints: list the Data Steward's files and read them decrypted."""

    def _api_v1_data_files_get(self, mode, sas_url=None, **kw):
        """``GET /api/v1/data/files``: the dataset's files, as a :class:`FileList`
        (``.files``, ``.total_files``). ``sas_url``: base64 of a container SAS URL (the
        ``SASUrl`` query parameter); the run's dataset when None."""
        _check_str("sas_url", sas_url, required=False)
        return self._op(kw, mode, "GET", "/api/v1/data/files", query=[("SASUrl", sas_url)],
                        response_type=models.FileList)

    def _api_v1_data_file_get(self, mode, filepath, sas_url=None, **kw):
        """``GET /api/v1/data/file?filepath=NAME``: the file's decrypted bytes. ``filepath`` is
        a ``name`` from the listing (``.bkenc`` kept). For a large file use the
        ``_without_preload_content`` form and read it in pieces."""
        _check_str("filepath", filepath)
        _check_str("sas_url", sas_url, required=False)
        return self._op(kw, mode, "GET", "/api/v1/data/file",
                        query=[("filepath", filepath), ("SASUrl", sas_url)],
                        response_type="bytearray")

    def _api_v1_data_file_post(self, mode, request_file_data, **kw):
        """``POST /api/v1/data/file`` with ``{"filepath": NAME}``: as the GET form.
        ``request_file_data``: a :class:`RequestFileData` or a dict."""
        body = models.RequestFileData.from_dict(request_file_data) \
            if isinstance(request_file_data, dict) else request_file_data
        if not isinstance(body, models.RequestFileData):
            raise ApiTypeError("request_file_data must be a RequestFileData")
        return self._op(kw, mode, "POST", "/api/v1/data/file", body=body,
                        headers={"Content-Type": "application/json"}, response_type="bytearray")


@_three("api_v1_log_post")
class LogApi(_Api):
    """The progress endpoint."""

    def _api_v1_log_post(self, mode, log_data, **kw):
        """``POST /api/v1/log``: a progress line, :class:`LogData` (``message``, ``status``) or a
        dict. The enclave caps lines in size and number."""
        body = models.LogData.from_dict(log_data) if isinstance(log_data, dict) else log_data
        if not isinstance(body, models.LogData):
            raise ApiTypeError("log_data must be a LogData")
        return self._op(kw, mode, "POST", "/api/v1/log", body=body,
                        headers={"Content-Type": "application/json"}, response_type="object")


def _report_body(report):
    body = models.Report.from_dict(report) if isinstance(report, dict) else report
    if not isinstance(body, models.Report):
        raise ApiTypeError("report must be a Report")
    return body


def _artifact_parts(artifact_file):
    """(filename, size, iterator of bytes pieces) for the accepted artifact forms."""
    if isinstance(artifact_file, tuple):
        if len(artifact_file) not in (2, 3):
            raise ApiValueError("artifact_file: a (filename, bytes[, mime type]) tuple")
        name, content = artifact_file[0], artifact_file[1]
        mime = artifact_file[2] if len(artifact_file) == 3 else None
        if isinstance(content, (bytes, bytearray)):
            return name, mime, len(content), iter((bytes(content),))
        artifact_file = content
    else:
        name, mime = None, None
    if isinstance(artifact_file, (bytes, bytearray)):
        return name or "artifact", mime, len(artifact_file), iter((bytes(artifact_file),))
    if isinstance(artifact_file, (str, os.PathLike)):
        path = os.fspath(artifact_file)
        size = os.path.getsize(path)

        def gen():
            with open(path, "rb") as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        return
                    yield b
        return name or os.path.basename(path), mime, size, gen()
    if isinstance(artifact_file, io.IOBase) or hasattr(artifact_file, "read"):
        f = artifact_file
        try:
            start = f.tell()
            f.seek(0, os.SEEK_END)
            size = f.tell() - start
            f.seek(start)
        except (OSError, AttributeError, ValueError):
            raise ApiValueError("artifact_file: a file object must be seekable")

        def gen2():
            while True:
                b = f.read(1 << 20)
                if not b:
                    return
                yield b
        fname = name or os.path.basename(getattr(f, "name", "") or "") or "artifact"
        return fname, mime, size, gen2()
    raise ApiTypeError("artifact_file must be bytes, a path, a binary file or a "
                       "(filename, bytes) tuple")


@_three("api_v1_report_post")
@_three("api_v1_validate_post")
@_three("api_v1_report_artifact_post")
class ReportApi(_Api):
    """The reporting endpoints."""

    def _api_v1_report_post(self, mode, report, **kw):
        """``POST /api/v1/report``: post a :class:`Report` (or a dict). A "Completed" report
        is checked against the approved criteria: a failure raises ``BadRequestException``
        whose ``data`` is ``{"status": "failed", "message": <errors>}``. Returns a
        :class:`ReportResponse`."""
        return self._op(kw, mode, "POST", "/api/v1/report", body=_report_body(report),
                        headers={"Content-Type": "application/json"},
                        response_type=models.ReportResponse)

    def _api_v1_validate_post(self, mode, report, **kw):
        """``POST /api/v1/validate``: check a :class:`Report` against the approved criteria
        without posting it. Returns a :class:`ValidationResponse` (``status`` "successful");
        a refused report raises ``BadRequestException`` (``data`` holds the errors)."""
        return self._op(kw, mode, "POST", "/api/v1/validate", body=_report_body(report),
                        headers={"Content-Type": "application/json"},
                        response_type=models.ValidationResponse)

    def _api_v1_report_artifact_post(self, mode, artifact_file, **kw):
        """``POST /api/v1/report/artifact``: upload a training output (the model) as the
        multipart field ``artifact_file``. ``artifact_file``: bytes, a path, a binary file
        object, or a (filename, bytes[, mime type]) tuple; sent in pieces, never whole in
        memory (for a path or file)."""
        name, mime, size, parts = _artifact_parts(artifact_file)
        if not isinstance(name, str) or any(c in name for c in '"\r\n'):
            raise ApiValueError("artifact_file: the file name must be a string without quotes "
                                "or line breaks")
        mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
        boundary = "escrow-" + uuid.uuid4().hex
        head = ('--{b}\r\nContent-Disposition: form-data; name="artifact_file"; '
                'filename="{n}"\r\nContent-Type: {m}\r\n\r\n').format(
                    b=boundary, n=name, m=mime).encode("utf-8")
        tail = "\r\n--{}--\r\n".format(boundary).encode("ascii")

        def body():
            yield head
            for p in parts:
                yield p
            yield tail
        return self._op(kw, mode, "POST", "/api/v1/report/artifact", body=body(),
                        content_length=len(head) + size + len(tail),
                        headers={"Content-Type": "multipart/form-data; boundary=" + boundary},
                        response_type="object")


@_three("api_v1_validate_post")
class ValidateApi(_Api):
    """``POST /api/v1/validate`` alone (older clients had it in its own class)."""

    _api_v1_validate_post = ReportApi._api_v1_validate_post


@_three("health_get")
class HealthApi(_Api):
    """``GET /health``: the enclave's state (``{"enclave": "ok", "simulated_tee": true}``)."""

    def _health_get(self, mode, **kw):
        """``GET /health``: a dict."""
        return self._op(kw, mode, "GET", "/health", response_type="object")
