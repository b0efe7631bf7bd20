"""The host side of a BASIC program: value kinds and the keyword registry."""

from .registry import Context, KeywordSpec, ParamSpec, Registry, canonical_name
from .values import Kind, Value, kind_of

__all__ = [
    "Context",
    "KeywordSpec",
    "Kind",
    "ParamSpec",
    "Registry",
    "Value",
    "canonical_name",
    "kind_of",
]
