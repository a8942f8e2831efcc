"""The Enclave API's models, with the names and methods of an OpenAPI-generated client.

Each model has snake_case attributes; ``to_dict()`` gives the JSON field names used on the wire
(``uploadDate``, ``totalFiles``...) and leaves out unset fields; ``from_dict()`` accepts either
spelling and ignores fields it does not know; ``to_json()``/``from_json()`` and ``to_str()``
work as in a generated client.
"""
import datetime
import json
import pprint

from ..exceptions import ApiTypeError, ApiValueError

__all__ = ["File", "FileList", "ApiV1DataFilesGet200Response", "LogData", "Report",
           "ReportJsonSchema", "RequestFileData", "ValidationResponse", "ReportResponse",
           "ArtifactResponse"]


def _any(v):
    return v


def _str(v):
    if v is None or isinstance(v, str):
        return v
    raise ApiTypeError("expected a string, got {}".format(type(v).__name__))


def _int(v):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise ApiTypeError("expected an integer, got {}".format(type(v).__name__))
    return v


def _datetime(v):
    if v is None or isinstance(v, datetime.datetime):
        return v
    if not isinstance(v, str):
        raise ApiTypeError("expected a date-time string, got {}".format(type(v).__name__))
    t = v[:-1] + "+00:00" if v.endswith("Z") else v
    try:
        return datetime.datetime.fromisoformat(t)
    except ValueError:
        return v  # kept as the server wrote it


def _model_list(cls):
    def conv(v):
        if v is None:
            return None
        if not isinstance(v, list):
            raise ApiTypeError("expected a list, got {}".format(type(v).__name__))
        return [x if isinstance(x, cls) else cls.from_dict(x) for x in v]
    return conv


def _wire(v):
    if isinstance(v, Model):
        return v.to_dict()
    if isinstance(v, list):
        return [_wire(x) for x in v]
    if isinstance(v, dict):
        return {k: _wire(x) for k, x in v.items()}
    if isinstance(v, datetime.datetime):
        s = v.isoformat()
        return s[:-6] + "Z" if s.endswith("+00:00") else s
    return v


class Model:
    """The common base: ``_fields`` is a tuple of (attribute, JSON name, converter)."""

    _fields = ()
    _required = ()

    def __init__(self, **kwargs):
        names = {}
        for attr, alias, _ in self._fields:
            names[attr] = attr
            names[alias] = attr
        for attr, _, _ in self._fields:
            object.__setattr__(self, attr, None)
        for k, v in kwargs.items():
            if k in names:  # unknown fields are ignored, as by the generated (pydantic) models
                setattr(self, names[k], v)
        for attr in self._required:
            if getattr(self, attr) is None:
                raise ApiValueError("{}: the field {!r} is required".format(type(self).__name__, attr))

    def __setattr__(self, name, value):
        for attr, _, conv in self._fields:
            if attr == name:
                object.__setattr__(self, name, conv(value))
                return
        raise AttributeError("{} has no field {!r}".format(type(self).__name__, name))

    def to_dict(self):
        """The model as a dict with the JSON field names; unset (None) fields are left out."""
        out = {}
        for attr, alias, _ in self._fields:
            v = getattr(self, attr)
            if v is not None:
                out[alias] = _wire(v)
        return out

    def to_json(self):
        return json.dumps(self.to_dict())

    def to_str(self):
        return pprint.pformat(self.to_dict())

    def __repr__(self):
        return self.to_str()

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    @classmethod
    def from_dict(cls, obj):
        """A model from a dict (JSON names or attribute names; unknown keys are ignored).
        None gives None; a model of this class is returned as it is."""
        if obj is None:
            return None
        if isinstance(obj, cls):
            return obj
        if not isinstance(obj, dict):
            raise ApiTypeError("{}.from_dict: expected a dict, got {}".format(
                cls.__name__, type(obj).__name__))
        kw = {}
        for attr, alias, _ in cls._fields:
            if alias in obj:
                kw[attr] = obj[alias]
            elif attr in obj:
                kw[attr] = obj[attr]
        return cls(**kw)

    @classmethod
    def from_json(cls, json_str):
        return cls.from_dict(json.loads(json_str))


class File(Model):
    """A dataset file: ``id``, ``name`` (the blob name as stored, e.g. ``data.csv.bkenc``: pass
    it as is to ``api_v1_data_file_get``), ``size`` (stored bytes), ``upload_date``."""
    _fields = (("id", "id", _str), ("name", "name", _str), ("size", "size", _int),
               ("upload_date", "uploadDate", _datetime))


class FileList(Model):
    """The answer of ``GET /api/v1/data/files``: ``files`` (a list of :class:`File`) and
    ``total_files``."""
    _fields = (("files", "files", _model_list(File)), ("total_files", "totalFiles", _int))


ApiV1DataFilesGet200Response = FileList


class LogData(Model):
    """A progress line: ``message`` and ``status`` ("In Progress", "Completed", "Failed")."""
    _fields = (("message", "message", _str), ("status", "status", _str))


class ReportJsonSchema(Model):
    """A Cerberus schema sent in ``Report.json_schema``, kept as given (a plain dict works as
    well). The escrow enclave never validates against it: only the approved criteria count."""
    _fields = ()

    def __init__(self, **kwargs):
        object.__setattr__(self, "_schema", dict(kwargs))

    def to_dict(self):
        return json.loads(json.dumps(self._schema))

    @classmethod
    def from_dict(cls, obj):
        if obj is None or isinstance(obj, cls):
            return obj
        if not isinstance(obj, dict):
            raise ApiTypeError("ReportJsonSchema.from_dict: expected a dict, got {}".format(
                type(obj).__name__))
        return cls(**obj)


class Report(Model):
    """A report: ``name``, ``status`` ("In Progress", "Completed", "Failed"), ``json_data``
    (a JSON object, a JSON string or base64 of JSON), ``json_schema``, ``upload_location``,
    ``project``, ``run_configuration``, ``run``.

    Only a report with status "Completed" that passes the approved validation criteria leaves
    the TEE.
    """
    _fields = (("name", "name", _str), ("status", "status", _str), ("json_data", "json_data", _any),
               ("json_schema", "json_schema", _any), ("upload_location", "upload_location", _str),
               ("project", "project", _str), ("run_configuration", "run_configuration", _str),
               ("run", "run", _str))


class RequestFileData(Model):
    """The body of ``POST /api/v1/data/file``: ``filepath`` (and an optional ``sas_url``)."""
    _fields = (("filepath", "filepath", _str), ("sas_url", "SASUrl", _str))
    _required = ("filepath",)


class ValidationResponse(Model):
    """The answer of validate and report: ``status`` ("successful" or "failed") and
    ``message`` (the criteria's errors, a dict, or a text)."""
    _fields = (("status", "status", _str), ("message", "message", _any))


class ReportResponse(ValidationResponse):
    """The answer of ``POST /api/v1/report``."""


class ArtifactResponse(Model):
    """The answer of ``POST /api/v1/report/artifact``."""
    _fields = (("status", "status", _str), ("message", "message", _any),
               ("name", "name", _str), ("size", "size", _int))
