"""The Makefile, the CI entry and the service scripts, run for real in scratch directories.

The Makefile is run against a scratch project whose ``.venv/bin/python`` records what it is
asked to do (and answers ``-c`` with the real interpreter), so the tests see which steps run
without installing anything. The service script is run against the real PostgreSQL and a Redis
of its own on a free port; the shared Redis is never touched.
"""

from __future__ import annotations

import ast
import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
MYPY = Path(sys.executable).with_name("mypy")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without an outer make's state (``make test`` runs these tests)."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    env.update(extra)
    return env


def make(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        check=False,
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def age(path: Path, seconds: float) -> None:
    """Set ``path``'s mtime ``seconds`` after now (make compares modification times)."""
    stamp = time.time() + seconds
    os.utime(path, (stamp, stamp))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch project: the real Makefile and scripts, a recording venv, one native module."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copytree(SCRIPTS, tmp_path / "scripts")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'scratch'\n")
    (tmp_path / "setup.py").write_text("")
    native = tmp_path / "core" / "_native"
    native.mkdir(parents=True)
    (native / "codec.pyx").write_text("")
    (native / "codec.pxd").write_text("")
    (native / "codec.cpython-311-x86_64-linux-gnu.so").write_text("")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-c" ]; then exec {sys.executable} "$@"; fi\n'
        'echo "$*" >> "$(dirname "$0")/../calls.log"\n'
    )
    python.chmod(0o755)
    # Sources written long ago, installed since: only native is out of date.
    for path in [*native.iterdir(), tmp_path / "pyproject.toml", tmp_path / "setup.py"]:
        age(path, -100)
    (tmp_path / ".venv" / ".installed").touch()
    age(tmp_path / ".venv" / ".installed", -50)
    return tmp_path


def calls(project: Path) -> list[str]:
    log = project / ".venv" / "calls.log"
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def test_help_is_the_default_and_names_the_two_commands(project: Path) -> None:
    out = make(project)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("make run")
    assert out.stdout.splitlines()[1].startswith("make test")


def test_native_rebuilds_only_when_its_inputs_change(project: Path) -> None:
    build = "setup.py -q build_ext --inplace"
    assert make(project, "native").returncode == 0
    assert calls(project) == [build]
    assert make(project, "native").returncode == 0
    assert calls(project) == []  # nothing changed: nothing runs

    age(project / "core" / "_native" / "codec.pxd", 10)
    assert make(project, "native").returncode == 0
    assert calls(project) == [build]

    # A missing module rebuilds even though the stamp is newer than every source.
    next(project.glob("core/_native/*.so")).unlink()
    assert make(project, "native").returncode == 0
    assert calls(project) == [build]


def test_install_reruns_when_the_project_definition_changes(project: Path) -> None:
    assert make(project, "native").returncode == 0
    calls(project)
    age(project / "setup.py", 20)
    out = make(project, "native")
    assert out.returncode == 0, out.stderr
    assert calls(project) == ["-m pip install -q -e .[dev]", "setup.py -q build_ext --inplace"]


def test_venv_refuses_an_old_python(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    old = tmp_path / "python3.10"
    old.write_text('#!/bin/sh\n[ "$1" = "-V" ] && echo "Python 3.10.13"\nexit 1\n')
    old.chmod(0o755)
    out = make(tmp_path, "venv", f"PYTHON={old}")
    assert out.returncode != 0
    assert "is Python 3.10.13; gb needs Python >= 3.11" in out.stderr
    assert not (tmp_path / ".venv").exists()

    out = make(tmp_path, "venv", "PYTHON=")
    assert out.returncode != 0
    assert "gb needs Python >= 3.11 and none was found" in out.stderr


def test_test_target_measures_every_area_and_lints_first(project: Path) -> None:
    out = make(project, "-n", "test")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    order = [
        next(i for i, line in enumerate(lines) if word in line)
        for word in (
            "bin/ruff check",
            "bin/cython-lint",
            "bin/mypy",
            "ensure-services",
            "bin/pytest",
        )
    ]
    assert order == sorted(order)
    pytest_line = lines[order[-1]]
    assert "--cov " in pytest_line  # the sources come from pyproject.toml
    assert "--cov-branch" in pytest_line
    assert " -n" not in pytest_line  # pytest-xdist is not a dependency


def test_coverage_measures_every_area_setup_py_maps() -> None:
    # `gb` names a folder here, so coverage would take it as a directory and measure only
    # gb/__init__.py: every area folder must be listed as a source of its own.
    tree = ast.parse((ROOT / "setup.py").read_text())
    (areas,) = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "AREAS"
    ]
    with (ROOT / "pyproject.toml").open("rb") as fh:
        source = tomllib.load(fh)["tool"]["coverage"]["run"]["source"]
    assert set(source) == {"gb", *areas}
    assert all((ROOT / folder).is_dir() for folder in source)


def test_typecheck_sees_the_mapped_package(project: Path) -> None:
    (project / ".venv" / "bin" / "mypy").symlink_to(MYPY)
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    age(project / ".venv" / ".installed", 30)
    view = project / "build" / "pkg" / "gb"  # what setup.py lays out at install
    view.mkdir(parents=True)
    for area in ("gb", "core", "protocol"):
        (project / area).mkdir(exist_ok=True)
        (project / area / "__init__.py").write_text("")
    (view / "__init__.py").symlink_to(project / "gb" / "__init__.py")
    for area in ("core", "protocol"):
        (view / area).symlink_to(project / area)
    (project / "protocol" / "wire.py").write_text("def size() -> int:\n    return 24\n")
    user = project / "core" / "user.py"
    user.write_text("from gb.protocol.wire import size\n\nTOTAL: int = size()\n")
    out = make(project, "typecheck")
    assert out.returncode == 0, out.stdout + out.stderr

    user.write_text("from gb.protocol.wire import size\n\nTOTAL: str = size()\n")
    out = make(project, "typecheck")
    assert out.returncode != 0
    # The error names the source file, not the view, and the gb.protocol import resolved.
    assert "core/user.py:3: error: Incompatible types in assignment" in out.stdout
    assert "import-not-found" not in out.stdout


def test_ci_entry_runs_make_test_from_the_repository_root(tmp_path: Path) -> None:
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    fake = tmp_path / "make"
    fake.write_text(f'#!/bin/sh\necho "$PWD $*" > {tmp_path}/make.log\n')
    fake.chmod(0o755)
    env = clean_env(PATH=f"{tmp_path}:{os.environ['PATH']}")
    subprocess.run([str(ci)], cwd=tmp_path, env=env, check=True, timeout=30)
    assert (tmp_path / "make.log").read_text().split() == [str(ROOT), "test"]


def run_script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPTS / args[0]), *args[1:]],
        check=False,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bootstrap_is_silent_and_quick_when_everything_is_present() -> None:
    started = time.monotonic()
    out = run_script("bootstrap-system.sh", "build", "services", "bench", PYTHON=sys.executable)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert time.monotonic() - started < 10


def test_bootstrap_rejects_an_unknown_group() -> None:
    out = run_script("bootstrap-system.sh", "gpu")
    assert out.returncode == 2
    assert "unknown group 'gpu'" in out.stderr


def test_services_that_answer_are_left_alone() -> None:
    out = run_script("ensure-services.sh")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "services: PostgreSQL 127.0.0.1:5432 up",
        "services: Redis 127.0.0.1:6379 up",
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def redis_port() -> Iterator[int]:
    """A free port; whatever Redis the test started there is shut down afterwards."""
    port = free_port()
    yield port
    subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "shutdown", "nosave"],
        check=False,
        capture_output=True,
        timeout=10,
    )


def test_a_redis_that_is_down_is_started(redis_port: int) -> None:
    out = run_script("ensure-services.sh", GB_SERVICES_REDIS_PORT=str(redis_port))
    assert out.returncode == 0, out.stderr
    assert f"services: Redis 127.0.0.1:{redis_port} started" in out.stdout
    ping = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(redis_port), "ping"],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert ping.stdout.strip() == "PONG"


def test_a_service_that_cannot_start_fails_loudly_within_the_bound() -> None:
    # Something that is not Redis holds the port: redis-server cannot bind, ping never answers.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        started = time.monotonic()
        out = run_script(
            "ensure-services.sh", GB_SERVICES_REDIS_PORT=str(port), GB_SERVICES_WAIT="1"
        )
    assert out.returncode == 1
    assert f"Redis 127.0.0.1:{port} did not answer within 1s" in out.stderr
    assert "Address already in use" in out.stderr  # the log tail says why
    assert time.monotonic() - started < 20
