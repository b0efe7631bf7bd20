"""``gb basic compile | run | dump``: in subprocesses (``python -m gb.compiler.cli``) as a user
runs it, and in-process for the details."""

from __future__ import annotations

import io
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from gb.compiler.cli import main

HELLO = """\
REM greets the user
TALK "Hello, what is your name?"
HEAR name
TALK "Hi, " + name + "."
LOG "greeted " + name
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def cli(*args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gb.compiler.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_main(*args: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(args), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_run_is_a_terminal_conversation(tmp_path: Path) -> None:
    source = write(tmp_path, "hello.bas", HELLO)
    done = cli("run", str(source), stdin="Ana\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Hello, what is your name?\nHi, Ana.\n"
    assert done.stderr == "[log] greeted Ana\n"


def test_run_fails_at_the_end_of_input_and_on_runtime_errors(tmp_path: Path) -> None:
    source = write(tmp_path, "hello.bas", HELLO)
    ended = cli("run", str(source), stdin="")
    assert ended.returncode == 1
    assert ended.stdout == "Hello, what is your name?\n"
    assert "hello.bas:3: runtime error: end of input while the dialog waits" in ended.stderr
    broken = write(tmp_path, "broken.bas", 'TALK "a"\nx = 1 / 0\nTALK "b"\n')
    failed = cli("run", str(broken))
    assert (failed.returncode, failed.stdout) == (1, "a\n")
    assert failed.stderr.endswith("broken.bas:2: runtime error: division by zero\n")


def test_compile_writes_wasm_and_reports_errors(tmp_path: Path) -> None:
    source = write(tmp_path, "hello.bas", HELLO)
    done = cli("compile", str(source))
    assert done.returncode == 0 and done.stdout == ""
    module = wasmtime.Module(wasmtime.Engine(), (tmp_path / "hello.wasm").read_bytes())
    assert any(export.name == "step" for export in module.exports)
    bad = write(tmp_path, "bad.bas", 'IF x > 3 TALK "big"\nWAIT "x"\n')
    failed = cli("compile", str(bad))
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("bad.bas:1:10: error: expected THEN after the IF condition")
    assert '    IF x > 3 TALK "big"\n             ^' in failed.stderr
    assert not (tmp_path / "bad.wasm").exists()


def test_dump_prints_wat(tmp_path: Path) -> None:
    done = cli("dump", str(write(tmp_path, "hello.bas", HELLO)))
    assert done.returncode == 0
    assert done.stdout.startswith("(module") and '(export "step"' in done.stdout


def test_limits_from_flags(tmp_path: Path) -> None:
    endless = write(tmp_path, "loop.bas", "n = 0\nDO WHILE TRUE\n    n = n + 1\nLOOP\n")
    status, out, err = run_main("run", str(endless), "--fuel", "100000")
    assert (status, out) == (1, "")
    assert err == (
        "loop.bas:3: runtime error: fuel exhausted: the dialog ran more than 100000 instructions\n"
    )
    status, _, err = run_main("run", str(endless), "--timeout", "0.2")
    assert status == 1 and err.startswith("loop.bas:3: runtime error: time limit exceeded")
    status, _, err = run_main("run", str(endless), "--memory", "1")
    assert status == 1 and "gb basic: Limits.memory_bytes" in err


def test_config_flags_reach_get_config(tmp_path: Path) -> None:
    source = write(tmp_path, "cfg.bas", 'a = GET CONFIG "Bot Admin Number"\nTALK "admin " + a\n')
    status, out, _ = run_main("run", str(source), "--config", "Bot Admin Number=5521")
    assert (status, out) == (0, "admin 5521\n")


def test_include_reads_beside_the_source(tmp_path: Path) -> None:
    write(tmp_path, "lib.bas", 'FUNCTION Hi()\n    Hi = "hi from lib"\nEND FUNCTION\n')
    source = write(tmp_path, "main.bas", "INCLUDE lib.bas\nTALK Hi()\n")
    assert run_main("run", str(source))[:2] == (0, "hi from lib\n")


def test_compile_output_option_and_write_errors(tmp_path: Path) -> None:
    source = write(tmp_path, "hello.bas", HELLO)
    target = tmp_path / "out" / "x.wasm"
    status, _, err = run_main("compile", str(source), "-o", str(target))
    assert status == 1 and err.startswith(f"gb basic: cannot write {target}")
    target.parent.mkdir()
    status, out, err = run_main("compile", str(source), "-o", str(target))
    assert (status, out) == (0, "") and err.startswith(f"{target}: ")
    assert target.read_bytes()[:4] == b"\0asm"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "x.bas", "--fuel", "-1"), "argument --fuel: -1 must be positive"),
        (("run", "x.bas", "--timeout", "soon"), "argument --timeout: 'soon' is not a number"),
        (("run", "x.bas", "--config", "novalue"), "'novalue' is not NAME=VALUE"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
        ((), "the following arguments are required: command"),
    ],
)
def test_bad_command_lines(args: tuple[str, ...], message: str) -> None:
    status, out, err = run_main(*args)
    assert status == 2 and out == "" and message in err


def test_help_and_unreadable_files(tmp_path: Path) -> None:
    status, out, _ = run_main("--help")
    assert status == 0 and "compile" in out and "dump" in out
    status, _, err = run_main("run", str(tmp_path / "missing.bas"))
    assert status == 1 and err.startswith("gb basic: cannot read")
    binary = tmp_path / "binary.bas"
    binary.write_bytes(b"\xff\xfe\x00")
    assert run_main("dump", str(binary))[0] == 1


def test_main_defaults_to_sys_argv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = write(tmp_path, "t.bas", 'TALK "x"\n')
    monkeypatch.setattr(sys, "argv", ["gb-basic", "run", str(source)])
    out = io.StringIO()
    assert main(stdout=out, stdin=io.StringIO(), stderr=io.StringIO()) == 0
    assert out.getvalue() == "x\n"


def test_in_process_compile_errors_and_dump(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.bas", "NEXT\n")
    status, out, err = run_main("compile", str(bad))
    assert (status, out) == (1, "") and err == (
        "bad.bas:1:1: error: NEXT without FOR\n    NEXT\n    ^\n"
    )
    status, out, _ = run_main("dump", str(write(tmp_path, "ok.bas", 'TALK "x"\n')))
    assert status == 0 and out.startswith("(module")


@pytest.mark.filterwarnings("ignore:'gb.compiler.cli' found in sys.modules:RuntimeWarning")
def test_module_entry_point(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = write(tmp_path, "t.bas", 'TALK "from runpy"\n')
    monkeypatch.setattr(sys, "argv", ["gb.compiler.cli", "run", str(source)])
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    with pytest.raises(SystemExit) as info:
        runpy.run_module("gb.compiler.cli", run_name="__main__")
    assert info.value.code == 0 and out.getvalue() == "from runpy\n"


def test_ctrl_c_ends_the_conversation_without_a_traceback(tmp_path: Path) -> None:
    source = write(tmp_path, "hello.bas", HELLO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gb.compiler.cli", "run", str(source)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "Hello, what is your name?\n"  # now waiting in HEAR
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)  # stdin stays open: the read must not block
    finally:
        proc.kill()
    assert proc.returncode == 130 and out == ""
    assert err.endswith("gb basic: interrupted\n") and "Traceback" not in err


def test_interrupt_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def interrupted(coroutine: Any) -> None:
        coroutine.close()
        raise KeyboardInterrupt

    monkeypatch.setattr("gb.compiler.cli.asyncio.run", interrupted)
    status, _, err = run_main("run", str(write(tmp_path, "t.bas", 'TALK "x"\n')))
    assert status == 130 and err == "\ngb basic: interrupted\n"
