"""Debug names: the custom "name" section (module, function, local and global names).

Names are unique within their space (functions, globals, the locals of one function) because the
WAT printer uses them as `$identifiers`, which must be unique.
"""

from __future__ import annotations

from .leb128 import encode_unsigned


def name_bytes(text: str) -> bytes:
    """A name as the binary format spells it: length-prefixed UTF-8."""
    data = text.encode("utf-8")
    return encode_unsigned(len(data)) + data


def _name_map(names: dict[int, str]) -> bytes:
    items = sorted(names.items())
    return encode_unsigned(len(items)) + b"".join(
        encode_unsigned(index) + name_bytes(name) for index, name in items
    )


def _subsection(sub_id: int, content: bytes) -> bytes:
    return bytes((sub_id,)) + encode_unsigned(len(content)) + content


class NameMap(dict[int, str]):
    """index -> name, with the reverse map kept for the uniqueness check."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what
        self._owners: dict[str, int] = {}

    def assign(self, index: int, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"{self.what} {index}: a name must be a non-empty string, got {name!r}"
            )
        owner = self._owners.get(name, index)
        if owner != index:
            raise ValueError(f"{self.what} {index}: the name {name!r} is already used by {owner}")
        previous = self.get(index)
        if previous is not None:
            del self._owners[previous]
        self._owners[name] = index
        self[index] = name


class Names:
    """Names by index; set through the methods so uniqueness is checked."""

    def __init__(self) -> None:
        self.module: str | None = None
        self.functions = NameMap("function")
        self.locals: dict[int, NameMap] = {}  # function index -> its locals' names
        self.globals = NameMap("global")

    def set_module(self, name: str) -> None:
        NameMap("module").assign(0, name)
        self.module = name

    def set_function(self, index: int, name: str) -> None:
        self.functions.assign(index, name)

    def set_local(self, function: int, index: int, name: str) -> None:
        # stored only once a name is accepted: a function's entry is never empty
        names = self.locals.get(function) or NameMap(f"function {function} local")
        names.assign(index, name)
        self.locals[function] = names

    def set_global(self, index: int, name: str) -> None:
        self.globals.assign(index, name)

    def encode(self) -> bytes:
        """The name section's subsections in their required order; empty when nothing is named."""
        out = bytearray()
        if self.module is not None:
            out += _subsection(0, name_bytes(self.module))
        if self.functions:
            out += _subsection(1, _name_map(self.functions))
        local_maps = sorted(self.locals.items())
        if local_maps:
            out += _subsection(
                2,
                encode_unsigned(len(local_maps))
                + b"".join(encode_unsigned(f) + _name_map(names) for f, names in local_maps),
            )
        if self.globals:
            out += _subsection(7, _name_map(self.globals))
        return bytes(out)
