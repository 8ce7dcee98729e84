"""Declarative mappings: source record → canonical model, canonical → agency file or payload.

See ``docs/mappings.md`` for the file language and :mod:`claimbridge.mappings.engine` for how
it is compiled.
"""

from __future__ import annotations

from claimbridge.mappings.converters import ConversionError, register_converter
from claimbridge.mappings.engine import Mapping, compile_path, load_mapping, to_model

__all__ = [
    "ConversionError",
    "Mapping",
    "compile_path",
    "load_mapping",
    "register_converter",
    "to_model",
]
