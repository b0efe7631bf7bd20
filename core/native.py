"""Loading the native hot paths. The node refuses to start without them: no silent fallback."""

from __future__ import annotations

import hashlib
import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("gb.native")

MODULES = ("frame", "edge")


class NativeBuildError(RuntimeError):
    """A native extension is not built (or does not load) in this environment."""


@dataclass(frozen=True, slots=True)
class NativeModule:
    """One loaded extension: its name, file and a short digest identifying the build."""

    name: str
    path: str
    digest: str


def load(modules: tuple[str, ...] = MODULES) -> list[NativeModule]:
    """Import every native extension, log which build was loaded, and return the list.

    Raises :class:`NativeBuildError` naming the module and the command that builds it.
    """
    loaded = []
    for name in modules:
        try:
            module = importlib.import_module(f"gb.core._native.{name}")
        except ImportError as exc:
            raise NativeBuildError(
                f"native module gb.core._native.{name} is not built ({exc}); "
                "run `make native` (or `pip install -e .`) first"
            ) from None
        path = Path(module.__file__ or "")
        if path.suffix != ".so":
            raise NativeBuildError(f"gb.core._native.{name} loaded from {path}, not a native build")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        loaded.append(NativeModule(name, str(path), digest))
    log.info("native build: %s", ", ".join(f"{m.name} {m.digest} ({m.path})" for m in loaded))
    return loaded
