"""Configuration of the EnclaveSDK client.

The host defaults to ``ENCLAVE_URL`` (then ``ESCROW_RUNTIME_LOCATION``), else
``https://localhost:5000``, where the algorithm finds the Enclave API inside the TEE.

TLS: certificates are always verified unless ``verify_ssl`` is set to False explicitly. The
trusted CAs are, in order: ``ssl_ca_cert`` (a file), ``ca_cert_data`` (PEM text), else the
default trust store of Python's ``ssl`` module, which honours ``SSL_CERT_FILE`` and
``SSL_CERT_DIR``. Inside an escrow enclave ``SSL_CERT_FILE`` names the run's own CA, so the
defaults verify the Enclave API's certificate.
"""
import copy
import logging
import os

DEFAULT_HOST = "https://localhost:5000"


def _env_host():
    for name in ("ENCLAVE_URL", "ESCROW_RUNTIME_LOCATION"):
        v = os.environ.get(name)
        if v:
            return v
    return DEFAULT_HOST


class Configuration:
    """Settings shared by an :class:`ApiClient` and the API classes built on it.

    ``Configuration(host=None, api_key=None, api_key_prefix=None, username=None, password=None,
    access_token=None, server_index=None, server_variables=None, server_operation_index=None,
    server_operation_variables=None, ignore_operation_servers=False, ssl_ca_cert=None,
    retries=None, ca_cert_data=None, *, debug=None)``

    Attributes an algorithm may set: ``host``, ``verify_ssl`` (default True), ``ssl_ca_cert``,
    ``ca_cert_data``, ``cert_file``/``key_file`` (a client certificate), ``assert_hostname``
    (False to skip only the host name check), ``tls_server_name``, ``access_token`` (sent as
    ``Authorization: Bearer``), ``retries`` (how many times a request that got no answer is
    sent again; default 0; a POST is repeated only when it could not be sent at all),
    ``timeout`` (seconds, default 300), ``debug``.
    """

    _default = None

    def __init__(self, host=None, api_key=None, api_key_prefix=None, username=None,
                 password=None, access_token=None, server_index=None, server_variables=None,
                 server_operation_index=None, server_operation_variables=None,
                 ignore_operation_servers=False, ssl_ca_cert=None, retries=None,
                 ca_cert_data=None, *, debug=None):
        self._base_path = _env_host() if host is None else host
        self.server_index = 0 if server_index is None and host is None else server_index
        self.server_variables = server_variables or {}
        self.server_operation_index = server_operation_index or {}
        self.server_operation_variables = server_operation_variables or {}
        self.ignore_operation_servers = ignore_operation_servers
        self.temp_folder_path = None
        self.api_key = dict(api_key) if api_key else {}
        self.api_key_prefix = dict(api_key_prefix) if api_key_prefix else {}
        self.refresh_api_key_hook = None
        self.username = username
        self.password = password
        self.access_token = access_token
        self.logger = {"package_logger": logging.getLogger("EnclaveSDK")}
        self.logger_format = "%(asctime)s %(levelname)s %(message)s"
        self.logger_file = None
        self._debug = False
        self.debug = bool(debug) if debug is not None else False
        self.verify_ssl = True
        self.ssl_ca_cert = ssl_ca_cert
        self.ca_cert_data = ca_cert_data
        self.cert_file = None
        self.key_file = None
        self.assert_hostname = None
        self.tls_server_name = None
        self.connection_pool_maxsize = None
        self.proxy = None
        self.proxy_headers = None
        self.safe_chars_for_path_param = ""
        self.retries = retries
        self.socket_options = None
        self.timeout = 300.0
        self.client_side_validation = True
        self.datetime_format = "%Y-%m-%dT%H:%M:%S.%f%z"
        self.date_format = "%Y-%m-%d"

    # host: the base URL, without a trailing slash
    @property
    def host(self):
        return self._base_path.rstrip("/")

    @host.setter
    def host(self, value):
        self._base_path = value
        self.server_index = None

    @property
    def debug(self):
        return self._debug

    @debug.setter
    def debug(self, value):
        self._debug = bool(value)
        level = logging.DEBUG if self._debug else logging.WARNING
        for lg in self.logger.values():
            lg.setLevel(level)

    @classmethod
    def set_default(cls, default):
        """Make ``default`` (a Configuration, copied) what ``Configuration.get_default()``
        returns; None resets it."""
        cls._default = copy.deepcopy(default) if default is not None else None

    @classmethod
    def get_default(cls):
        """The default Configuration (made on first use)."""
        if cls._default is None:
            cls._default = Configuration()
        return cls._default

    @classmethod
    def get_default_copy(cls):
        """A copy of the default Configuration."""
        return copy.deepcopy(cls.get_default())

    def get_api_key_with_prefix(self, identifier, alias=None):
        if self.refresh_api_key_hook is not None:
            self.refresh_api_key_hook(self)
        key = self.api_key.get(identifier, self.api_key.get(alias) if alias else None)
        if key is None:
            return None
        prefix = self.api_key_prefix.get(identifier)
        return "{} {}".format(prefix, key) if prefix else key

    def auth_settings(self):
        """The authentication headers this configuration adds: a Bearer token when
        ``access_token`` is set."""
        auth = {}
        if self.access_token is not None:
            auth["BearerAuth"] = {"type": "bearer", "in": "header", "format": "JWT",
                                  "key": "Authorization",
                                  "value": "Bearer " + self.access_token}
        return auth

    def to_debug_report(self):
        import platform
        import sys
        from . import __version__
        return ("Python SDK Debug Report:\nOS: {}\nPython Version: {}\n"
                "Version of the API: 2.1.4\nSDK Package Version: {} (escrow clean-room)"
                .format(sys.platform, platform.python_version(), __version__))

    def get_host_settings(self):
        return [{"url": DEFAULT_HOST, "description": "the Enclave API inside the TEE"}]

    def get_host_from_settings(self, index, variables=None, servers=None):
        if index is None:
            return self._base_path
        servers = self.get_host_settings() if servers is None else servers
        try:
            return servers[index]["url"]
        except IndexError:
            raise ValueError("Invalid index {} when selecting the host settings. Must be less "
                             "than {}".format(index, len(servers)))
