"""Exceptions of the EnclaveSDK client (the names an OpenAPI-generated client exports)."""


class OpenApiException(Exception):
    """The base of every exception this package raises."""


class ApiTypeError(OpenApiException, TypeError):
    """An argument has the wrong type."""

    def __init__(self, msg, path_to_item=None, valid_classes=None, key_type=None):
        self.path_to_item = path_to_item
        self.valid_classes = valid_classes
        self.key_type = key_type
        super().__init__(msg)


class ApiValueError(OpenApiException, ValueError):
    """An argument has a value the operation cannot use."""

    def __init__(self, msg, path_to_item=None):
        self.path_to_item = path_to_item
        super().__init__(msg)


class ApiAttributeError(OpenApiException, AttributeError):
    """A model has no such attribute."""

    def __init__(self, msg, path_to_item=None):
        self.path_to_item = path_to_item
        super().__init__(msg)


class ApiKeyError(OpenApiException, KeyError):
    """A model has no such key."""

    def __init__(self, msg, path_to_item=None):
        self.path_to_item = path_to_item
        super().__init__(msg)


class ApiException(OpenApiException):
    """The Enclave API answered with an error status, or could not be reached (status 0).

    Attributes: ``status`` (HTTP status, 0 when no answer came), ``reason``, ``body`` (the
    answer's text), ``data`` (the answer decoded from JSON when it was JSON, else None),
    ``headers``.
    """

    def __init__(self, status=None, reason=None, http_resp=None, *, body=None, data=None):
        self.status = status
        self.reason = reason
        self.body = body
        self.data = data
        self.headers = None
        if http_resp is not None:
            if self.status is None:
                self.status = http_resp.status
            if self.reason is None:
                self.reason = http_resp.reason
            if self.body is None:
                try:
                    self.body = http_resp.data.decode("utf-8", "replace")
                except Exception:  # the body could not be read: keep what we have
                    self.body = None
            self.headers = http_resp.getheaders()

    @classmethod
    def from_response(cls, *, http_resp, body, data):
        """Raise the exception class that matches the answer's status."""
        status = http_resp.status
        klass = {400: BadRequestException, 401: UnauthorizedException,
                 403: ForbiddenException, 404: NotFoundException,
                 409: ConflictException, 422: UnprocessableEntityException}.get(status)
        if klass is None:
            klass = ServiceException if 500 <= status <= 599 else ApiException
        raise klass(http_resp=http_resp, body=body, data=data)

    def __str__(self):
        msg = "({})\nReason: {}\n".format(self.status, self.reason)
        if self.headers:
            msg += "HTTP response headers: {}\n".format(self.headers)
        if self.data is not None or self.body:
            msg += "HTTP response body: {}\n".format(self.body if self.body else self.data)
        return msg


class BadRequestException(ApiException):
    """400: the request was refused, or a report failed the approved criteria."""


class UnauthorizedException(ApiException):
    """401."""


class ForbiddenException(ApiException):
    """403: for instance a ``SASUrl`` other than the run's dataset."""


class NotFoundException(ApiException):
    """404: an unknown file name or endpoint."""


class ConflictException(ApiException):
    """409."""


class UnprocessableEntityException(ApiException):
    """422."""


class ServiceException(ApiException):
    """5xx: the enclave could not serve the request."""
