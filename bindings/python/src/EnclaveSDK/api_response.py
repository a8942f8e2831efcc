"""ApiResponse: what the ``*_with_http_info`` methods return."""


class ApiResponse:
    """An answer: ``status_code``, ``headers`` (a dict), ``data`` (decoded) and ``raw_data``
    (the body's bytes)."""

    def __init__(self, status_code, headers=None, data=None, raw_data=b""):
        self.status_code = status_code
        self.headers = headers
        self.data = data
        self.raw_data = raw_data

    def __repr__(self):
        return "ApiResponse(status_code={!r}, data={!r})".format(self.status_code, self.data)
