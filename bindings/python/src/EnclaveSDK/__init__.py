"""EnclaveSDK: a clean-room client of the escrow / EscrowAI Enclave API.

It has the names of the OpenAPI-generated EnclaveSDK (``Configuration``, ``ApiClient``,
``DataApi``, ``LogApi``, ``ReportApi``, ``Report``...) so algorithms written for it run
unchanged, and it uses the Python standard library only, so it runs inside the sandbox with
nothing installed. TLS is always verified unless an algorithm turns it off itself; the trusted
CA comes from ``SSL_CERT_FILE`` (the enclave sets it to the run's CA) or
``Configuration.ssl_ca_cert``.

Example (the manual's template, 7.3.5.1.3)::

    import EnclaveSDK
    configuration = EnclaveSDK.Configuration("https://localhost:5000")
    api_client = EnclaveSDK.ApiClient(configuration)
    files = EnclaveSDK.DataApi(api_client).api_v1_data_files_get().files
    data = EnclaveSDK.DataApi(api_client).api_v1_data_file_get(files[0].name)
    report = EnclaveSDK.Report.from_dict({"json_data": {"report": "..."}, "name": "My run",
                                          "status": "Completed"})
    EnclaveSDK.ReportApi(api_client).api_v1_report_post(report)
"""

__version__ = "2.1.4+escrow"

from . import rest  # noqa: E402
from .api import DataApi, HealthApi, LogApi, ReportApi, ValidateApi  # noqa: E402
from .api_client import ApiClient  # noqa: E402
from .api_response import ApiResponse  # noqa: E402
from .configuration import Configuration  # noqa: E402
from .exceptions import (ApiAttributeError, ApiException, ApiKeyError, ApiTypeError,  # noqa: E402
                         ApiValueError, BadRequestException, ConflictException,
                         ForbiddenException, NotFoundException, OpenApiException,
                         ServiceException, UnauthorizedException,
                         UnprocessableEntityException)
from .models import (ApiV1DataFilesGet200Response, ArtifactResponse, File,  # noqa: E402
                     FileList, LogData, Report, ReportJsonSchema, ReportResponse,
                     RequestFileData, ValidationResponse)

__all__ = [
    "ApiAttributeError", "ApiClient", "ApiException", "ApiKeyError", "ApiResponse",
    "ApiTypeError", "ApiV1DataFilesGet200Response", "ApiValueError", "ArtifactResponse",
    "BadRequestException", "Configuration", "ConflictException", "DataApi", "File", "FileList",
    "ForbiddenException", "HealthApi", "LogApi", "LogData", "NotFoundException",
    "OpenApiException", "Report", "ReportApi", "ReportJsonSchema", "ReportResponse",
    "RequestFileData", "ServiceException", "UnauthorizedException",
    "UnprocessableEntityException", "ValidateApi", "ValidationResponse", "rest",
]
