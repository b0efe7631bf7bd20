"""The standard library registry: every keyword of the catalog with an implementation.

Built over FRONT's declared signatures (``compiler.keywords.signatures``), so keyword ids and
signatures are exactly the standard ones: the keywords gb can perform by itself (conversation,
options, dates, in-memory tables and store) run here; every other one delegates to the
context's service of its library (:mod:`.services`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..host.registry import Registry
from ..keywords.signatures import standard_registry
from . import conversation, data
from .services import SERVICE_OF, delegate

#: Keyword → the function that performs it here.
IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {
    "TALK": conversation.talk,
    "HEAR": conversation.hear,
    "SET HEAR ON": conversation.set_hear_on,
    "SET LANGUAGE": conversation.set_language,
    "SET TRANSLATOR": conversation.set_translator,
    "SET THEME": conversation.set_theme,
    "SET WHOLE WORD": conversation.set_whole_word,
    "SET MAX LINES": conversation.set_max_lines,
    "SET MAX COLUMNS": conversation.set_max_columns,
    "SET OUTPUT": conversation.set_output,
    "SET FILTER": conversation.set_filter,
    "SET PAGE MODE": conversation.set_page_mode,
    "SET PARAM": conversation.set_param,
    "GET CONFIG": conversation.get_config,
    "CONTINUATION TOKEN": conversation.continuation_token,
    "WAIT": conversation.wait,
    "LOG": conversation.log,
    "ADD NOTE": conversation.add_note,
    "FORMAT": conversation.format_value,
    "DATEADD": conversation.dateadd,
    "DATEDIFF": conversation.datediff,
    "FIND": data.find,
    "SAVE": data.save,
    "DELETE": data.delete,
    "MERGE": data.merge,
    "RESET REPORT": data.reset_report,
    "SET": data.set_value,
    "GET": data.get_value,
    "SET HEADER": data.set_header,
    "SET HTTP USERNAME": data.set_http_username,
    "SET HTTP PASSWORD": data.set_http_password,
    "SORT": data.sort,
    "APPEND": data.append,
    "OPEN FILE": data.open_file,
    "PRINT FILE": data.print_file,
    "CLOSE": data.close,
}


def stdlib_registry() -> Registry:
    """Every standard keyword, each performed here or by its service.

    Raises LookupError naming a catalog keyword that has neither (a keyword added to the
    catalog must be given one or the other).
    """
    declared = standard_registry()
    implemented = Registry()
    for spec in declared:
        fn = IMPLEMENTATIONS.get(spec.name)
        if fn is None:
            service = SERVICE_OF.get(spec.name)
            if service is None:
                raise LookupError(f"keyword {spec.name} has no implementation and no service")
            fn = delegate(spec.name, service)
        implemented.declare(
            spec.name,
            spec.params,
            spec.returns,
            suspends=spec.suspends,
            is_async=inspect.iscoroutinefunction(fn),
            fn=fn,
        )
    return declared.merged(implemented)
