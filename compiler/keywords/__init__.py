"""The keyword catalog of the dialect: surface forms, registry names, standard signatures."""

from .catalog import FORMS, HEAR_KINDS, KEYWORD_NAMES
from .forms import Form
from .signatures import SIGNATURES, standard_registry

__all__ = ["FORMS", "HEAR_KINDS", "KEYWORD_NAMES", "SIGNATURES", "Form", "standard_registry"]
