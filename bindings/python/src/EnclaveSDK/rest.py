"""HTTP(S) transport over the standard library (``http.client`` and ``ssl``).

Nothing outside the standard library is used, so the package runs inside a sandbox where
nothing is installed. Each request uses its own connection, so a streamed download
(``_preload_content=False``) never holds up other calls.
"""
import http.client
import io
import socket
import ssl
import urllib.parse

from .exceptions import ApiException, ApiValueError

__all__ = ["RESTClientObject", "RESTResponse", "ApiException"]

STREAM_CHUNK = 1 << 20
# methods a request may be repeated with when it was sent but no answer came back
IDEMPOTENT = frozenset(("GET", "HEAD", "DELETE", "PUT", "OPTIONS"))


def is_socks_proxy_url(url):
    return bool(url) and url.split("://", 1)[0].lower() in ("socks5", "socks5h", "socks4", "socks4a")


class RESTResponse(io.IOBase):
    """An answer of the Enclave API.

    With ``_preload_content=False`` the body has not been read: read it in bounded pieces with
    :meth:`read` (``read(n)``) or :meth:`stream`, then :meth:`release_conn` (or use it as a
    context manager). ``data`` reads (and keeps) the whole body.
    """

    def __init__(self, resp, conn):
        super().__init__()
        self.response = resp
        self._conn = conn
        self.status = resp.status
        self.reason = resp.reason
        self.version = resp.version
        self.headers = resp.headers
        self._data = None

    # urllib3-compatible accessors
    def getheaders(self):
        return dict(self.response.getheaders())

    def getheader(self, name, default=None):
        return self.response.getheader(name, default)

    @property
    def data(self):
        if self._data is None:
            self._data = self.response.read()
        return self._data

    def readable(self):
        return True

    def read(self, amt=None):
        """Up to ``amt`` bytes of the body (all that is left when ``amt`` is None). A body cut
        short by the server raises ``http.client.IncompleteRead``."""
        if self._data is not None:
            if amt is None:
                d, self._data = self._data, b""
                return d
            d, self._data = self._data[:amt], self._data[amt:]
            return d
        if amt is None:
            return self.response.read()
        d = self.response.read(amt)
        if not d and amt:
            self._check_complete()
        return d

    def readinto(self, b):
        n = self.response.readinto(b)
        if not n and len(b):
            self._check_complete()
        return n

    def _check_complete(self):
        # http.client's read(amt)/readinto() return b"" when the connection closes before the
        # announced Content-Length: never let that pass for the end of the body.
        left = self.response.length
        if left:
            raise http.client.IncompleteRead(b"", left)

    def stream(self, amt=STREAM_CHUNK, decode_content=None):
        """Yield the body in pieces of at most ``amt`` bytes."""
        while True:
            chunk = self.read(amt)
            if not chunk:
                break
            yield chunk

    def release_conn(self):
        self.close()

    def close(self):
        try:
            self.response.close()
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        super().close()


class RESTClientObject:
    """Sends one request per connection to the configured host."""

    def __init__(self, configuration):
        self.configuration = configuration
        self._ssl_context = None
        self._ssl_key = None

    def _context(self):
        cfg = self.configuration
        key = (cfg.verify_ssl, cfg.ssl_ca_cert, cfg.ca_cert_data, cfg.assert_hostname,
               cfg.cert_file, cfg.key_file)
        if self._ssl_context is not None and self._ssl_key == key:
            return self._ssl_context
        if cfg.verify_ssl:
            ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert, cadata=cfg.ca_cert_data)
            if cfg.assert_hostname is False:
                ctx.check_hostname = False
        else:
            # an explicit choice of the caller (Configuration.verify_ssl = False)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if cfg.cert_file:
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        self._ssl_context, self._ssl_key = ctx, key
        return ctx

    @staticmethod
    def _timeouts(timeout, default):
        if timeout is None:
            return default, default
        if isinstance(timeout, (int, float)):
            return float(timeout), float(timeout)
        if isinstance(timeout, tuple) and len(timeout) == 2:
            return timeout[0], timeout[1]
        raise ApiValueError("_request_timeout must be a number or a (connect, read) pair")

    def request(self, method, url, headers=None, body=None, _request_timeout=None,
                preload_content=True, content_length=None):
        """Send ``method url``; ``body`` is bytes, or an iterable of bytes with
        ``content_length``. Returns a :class:`RESTResponse` (its body read unless
        ``preload_content`` is False). Raises ApiException(status=0) when no answer came."""
        method = method.upper()
        if method not in ("GET", "HEAD", "DELETE", "POST", "PUT", "PATCH", "OPTIONS"):
            raise ApiValueError("unsupported HTTP method " + method)
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ApiValueError("the host must be an http:// or https:// URL, not " + repr(url))
        connect_t, read_t = self._timeouts(_request_timeout, self.configuration.timeout)
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        headers = dict(headers or {})
        if body is not None and content_length is not None:
            headers["Content-Length"] = str(content_length)
        tries = 1 + max(0, int(self.configuration.retries or 0))
        last = None
        for _ in range(tries):
            if u.scheme == "https":
                conn = http.client.HTTPSConnection(
                    u.hostname, u.port, timeout=connect_t, context=self._context())
            else:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=connect_t)
            sent = False
            try:
                if u.scheme == "https" and self.configuration.tls_server_name:
                    conn.sock = self._connect_sni(u, connect_t)
                conn.request(method, path, body=body, headers=headers)
                sent = True
                if conn.sock is not None:
                    conn.sock.settimeout(read_t)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                last = e
                if body is not None and not isinstance(body, (bytes, bytearray)):
                    break  # a streamed body cannot be sent twice
                if sent and method not in IDEMPOTENT:
                    break  # the server may have acted on it: never repeat a POST (as urllib3)
                continue
            r = RESTResponse(resp, conn)
            if preload_content:
                try:
                    r.data  # noqa: B018 (reads the body)
                finally:
                    r.close()
            return r
        if isinstance(last, ssl.SSLCertVerificationError):
            reason = "TLS certificate verification failed: {} (the enclave's CA is trusted " \
                     "through SSL_CERT_FILE or Configuration.ssl_ca_cert)".format(last.verify_message)
        else:
            reason = "no answer from {}://{}:{}: {}".format(
                u.scheme, u.hostname, u.port or (443 if u.scheme == "https" else 80), last)
        raise ApiException(status=0, reason=reason)

    def _connect_sni(self, u, timeout):
        raw = socket.create_connection((u.hostname, u.port or 443), timeout)
        try:
            return self._context().wrap_socket(raw, server_hostname=self.configuration.tls_server_name)
        except BaseException:
            raw.close()
            raise
