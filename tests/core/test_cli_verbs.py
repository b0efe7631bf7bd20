"""``gb basic`` is handed to the compiler's CLI; ``gb persister`` needs the Kafka log."""

from gb.core.cli import main


def test_gb_basic_is_the_compiler_cli(tmp_path, capsys) -> None:
    source = tmp_path / "hello.bas"
    source.write_text('TALK "Hello"\n')
    assert main(["basic", "dump", str(source)]) == 0
    assert "(module" in capsys.readouterr().out
    assert main(["basic", "--help"]) == 0  # options right after `basic` reach it too
    assert "compile" in capsys.readouterr().out


def test_gb_persister_refuses_the_embedded_log(monkeypatch, capsys) -> None:
    for var in ("GB_KAFKA_BOOTSTRAP", "GB_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GB_JWT_SECRET", "x" * 40)
    assert main(["persister"]) == 2
    assert "GB_KAFKA_BOOTSTRAP" in capsys.readouterr().err
