"""Loads the SWIG layer and registers the exception factory (internal)."""
from . import core as _c
from .errors import _make_error

_c.pyesc_set_error_factory(_make_error)

c = _c
