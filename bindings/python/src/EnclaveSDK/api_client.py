"""ApiClient: sends the API classes' requests and decodes the answers."""
import http.client
import json
import urllib.parse

from . import models as _models
from .api_response import ApiResponse
from .configuration import Configuration
from .exceptions import ApiException, ApiValueError
from .rest import RESTClientObject

ERROR_BODY_MAX = 1 << 20  # an error answer is read up to this size


class ApiClient:
    """The connection settings of the API classes (``DataApi(api_client)``...).

    ``ApiClient(configuration=None, header_name=None, header_value=None, cookie=None)``;
    without a configuration, ``Configuration.get_default()`` is used. Usable as a context
    manager; :meth:`close` releases it.
    """

    PRIMITIVE_TYPES = (float, bool, bytes, str, int)
    _default = None

    def __init__(self, configuration=None, header_name=None, header_value=None, cookie=None):
        if configuration is None:
            configuration = Configuration.get_default()
        self.configuration = configuration
        self.rest_client = RESTClientObject(configuration)
        self.default_headers = {}
        if header_name is not None:
            self.default_headers[header_name] = header_value
        self.cookie = cookie
        from . import __version__
        self.user_agent = "EnclaveSDK/{} (escrow clean-room; python)".format(__version__)
        self.client_side_validation = configuration.client_side_validation

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    def close(self):
        """Nothing stays open between requests; kept for compatibility."""

    @property
    def user_agent(self):
        return self.default_headers["User-Agent"]

    @user_agent.setter
    def user_agent(self, value):
        self.default_headers["User-Agent"] = value

    def set_default_header(self, header_name, header_value):
        self.default_headers[header_name] = header_value

    @classmethod
    def get_default(cls):
        if cls._default is None:
            cls._default = ApiClient()
        return cls._default

    @classmethod
    def set_default(cls, default):
        cls._default = default

    # ---- requests ----------------------------------------------------------------------------

    def build_url(self, path, query=None):
        url = self.configuration.host + path
        q = [(k, v) for k, v in (query or []) if v is not None]
        if q:
            url += "?" + urllib.parse.urlencode(q, quote_via=urllib.parse.quote, safe="")
        return url

    def _headers(self, extra=None):
        h = dict(self.default_headers)
        if self.cookie:
            h["Cookie"] = self.cookie
        for a in self.configuration.auth_settings().values():
            h[a["key"]] = a["value"]
        if extra:
            h.update(extra)
        return h

    def call_api(self, method, url, header_params=None, body=None, post_params=None,
                 _request_timeout=None, *, preload_content=True, content_length=None):
        """Send a request to a full URL and return the :class:`rest.RESTResponse`
        (whatever its status). A dict or list ``body`` is sent as JSON."""
        if post_params:
            raise ApiValueError("form bodies are not used by the Enclave API")
        headers = self._headers(header_params)
        if isinstance(body, (dict, list)) or isinstance(body, _models.Model):
            body = json.dumps(self.sanitize_for_serialization(body)).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode("utf-8")
        return self.rest_client.request(method, url, headers=headers, body=body,
                                        _request_timeout=_request_timeout,
                                        preload_content=preload_content,
                                        content_length=content_length)

    def sanitize_for_serialization(self, obj):
        """``obj`` as plain JSON values (models become dicts with their JSON names)."""
        if obj is None or isinstance(obj, (str, int, float, bool)):
            return obj
        if isinstance(obj, _models.Model):
            return obj.to_dict()
        if isinstance(obj, (list, tuple)):
            return [self.sanitize_for_serialization(x) for x in obj]
        if isinstance(obj, dict):
            return {k: self.sanitize_for_serialization(v) for k, v in obj.items()}
        if isinstance(obj, (bytes, bytearray)):
            return obj.decode("utf-8")
        if hasattr(obj, "isoformat"):
            return obj.isoformat()
        raise ApiValueError("cannot send a {} as JSON".format(type(obj).__name__))

    def operation(self, method, path, *, query=None, body=None, headers=None,
                  response_type=None, mode="data", _request_timeout=None, content_length=None):
        """Run one operation. ``mode``: "data" (the decoded answer; an error status raises
        ApiException), "http_info" (an ApiResponse; errors raise too) or "raw" (the
        undecoded, unread RESTResponse, whatever its status: the caller reads and closes it)."""
        url = self.build_url(path, query)
        h = {"Accept": "application/octet-stream" if response_type == "bytearray"
             else "application/json"}
        if headers:
            h.update(headers)
        r = self.call_api(method, url, header_params=h, body=body,
                          _request_timeout=_request_timeout, preload_content=False,
                          content_length=content_length)
        if mode == "raw":
            return r
        try:
            if not 200 <= r.status <= 299:
                try:
                    raw = r.read(ERROR_BODY_MAX)
                except (http.client.HTTPException, OSError) as e:
                    # the status is the answer; keep what came of its body
                    raw = e.partial if isinstance(e, http.client.IncompleteRead) else b""
                text = raw.decode("utf-8", "replace")
                try:
                    data = json.loads(text)
                except ValueError:
                    data = None
                r._data = raw
                ApiException.from_response(http_resp=r, body=text, data=data)
            try:
                raw = r.read()
            except (http.client.HTTPException, OSError) as e:
                # never hand over a body that did not arrive whole (a file altered midway is
                # cut short by the enclave)
                got = len(e.partial) if isinstance(e, http.client.IncompleteRead) else None
                raise ApiException(status=0, reason="the answer of {} {} was cut short{}: {}"
                                   .format(method, path, "" if got is None else
                                           " after {} bytes".format(got), type(e).__name__))
        finally:
            r.close()
        data = self.deserialize(raw, response_type)
        if mode == "http_info":
            return ApiResponse(status_code=r.status, headers=r.getheaders(), data=data, raw_data=raw)
        return data

    def deserialize(self, raw, response_type):
        """Decode an answer's body: "bytearray" gives the bytes, "object" the JSON value, a
        model class that model."""
        if response_type == "bytearray":
            return raw
        if response_type is None:
            return None
        text = raw.decode("utf-8") if raw else ""
        if not text.strip():
            data = None
        else:
            try:
                data = json.loads(text)
            except ValueError:
                raise ApiException(status=0, reason="the answer is not JSON: " + text[:200])
        if response_type == "object":
            return data
        if isinstance(response_type, type) and issubclass(response_type, _models.Model):
            return response_type.from_dict(data) if isinstance(data, dict) else data
        return data
