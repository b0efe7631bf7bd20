"""Settings: defaults, env and file sources, precedence, and errors that name the setting."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from gb.core.config import (
    CONFIG_ENV,
    ConfigError,
    Settings,
    load_settings,
)

SECRET = "s" * 32


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_defaults() -> None:
    s = load_settings({})
    assert (s.host, s.ws_port, s.http_port, s.workers) == ("127.0.0.1", 8765, 8080, 1)
    assert s.data_dir == Path(".gb-data")
    assert s.node_id == f"{socket.gethostname()}-{os.getpid()}"
    assert s.log_level == "info"
    assert (s.max_payload, s.max_connections, s.send_buffer_limit) == (1 << 20, 19_000, 4 << 20)
    assert (s.heartbeat_interval, s.heartbeat_timeout) == (25.0, 10.0)
    assert (s.hello_timeout, s.drain_timeout) == (5.0, 10.0)
    assert (s.max_subscriptions, s.rate_limit, s.rate_burst) == (1000, 2000, 4000)
    assert s.jwt_secret is None and s.jwt_public_key is None and s.jwt_issuer is None
    assert (s.jwt_audience, s.jwt_leeway) == ("gb", 5.0)
    assert (s.broker, s.redis_url) == ("memory", "redis://127.0.0.1:6379/0")


def test_env_values_are_parsed_to_their_types() -> None:
    s = load_settings(
        {
            "GB_HOST": "0.0.0.0",
            "GB_WS_PORT": "0",
            "GB_HTTP_PORT": " 9000 ",
            "GB_WORKERS": "4",
            "GB_DATA_DIR": "~/gbdata",
            "GB_NODE_ID": "edge-1.eu:a",
            "GB_LOG_LEVEL": "DEBUG",
            "GB_MAX_PAYLOAD": "64KiB",
            "GB_MAX_CONNECTIONS": "19999",
            "GB_SEND_BUFFER_LIMIT": "2 mib",
            "GB_HEARTBEAT_INTERVAL": "2.5",
            "GB_HEARTBEAT_TIMEOUT": "1",
            "GB_HELLO_TIMEOUT": "0.25",
            "GB_DRAIN_TIMEOUT": "0",
            "GB_MAX_SUBSCRIPTIONS": "7",
            "GB_RATE_LIMIT": "10",
            "GB_RATE_BURST": "20",
            "GB_JWT_SECRET": SECRET,
            "GB_JWT_AUDIENCE": "chat",
            "GB_JWT_ISSUER": "https://id.example",
            "GB_JWT_LEEWAY": "0",
            "GB_BROKER": "redis",
            "GB_REDIS_URL": "rediss://r.example:6380/1",
            "PATH": "/usr/bin",  # not ours: ignored
            "GB_NATIVE_TRACE": "1",  # build switch: not a setting, allowed
        }
    )
    assert (s.host, s.ws_port, s.http_port, s.workers) == ("0.0.0.0", 0, 9000, 4)
    assert s.data_dir == Path("~/gbdata").expanduser()
    assert s.node_id == "edge-1.eu:a"
    assert s.log_level == "debug"
    assert (s.max_payload, s.send_buffer_limit, s.max_connections) == (64 << 10, 2 << 20, 19999)
    assert (s.heartbeat_interval, s.heartbeat_timeout, s.hello_timeout) == (2.5, 1.0, 0.25)
    assert s.drain_timeout == 0.0
    assert (s.max_subscriptions, s.rate_limit, s.rate_burst) == (7, 10, 20)
    assert (s.jwt_secret, s.jwt_audience, s.jwt_issuer) == (SECRET, "chat", "https://id.example")
    assert s.jwt_leeway == 0.0
    assert (s.broker, s.redis_url) == ("redis", "rediss://r.example:6380/1")


def test_empty_optional_values_mean_unset() -> None:
    s = load_settings({"GB_JWT_SECRET": "", "GB_JWT_ISSUER": "", "GB_JWT_PUBLIC_KEY": ""})
    assert s.jwt_secret is None and s.jwt_issuer is None and s.jwt_public_key is None


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("GB_WS_PORT", "abc", "GB_WS_PORT: must be an integer in 0..65535, got 'abc'"),
        ("GB_WS_PORT", "65536", "GB_WS_PORT: must be an integer in 0..65535, got '65536'"),
        ("GB_HTTP_PORT", "-1", "GB_HTTP_PORT: must be an integer in 0..65535"),
        ("GB_WORKERS", "0", "GB_WORKERS: must be an integer in 1..1024, got '0'"),
        ("GB_WORKERS", "1.5", "GB_WORKERS: must be an integer"),
        ("GB_MAX_CONNECTIONS", "20000", "GB_MAX_CONNECTIONS: must be an integer in 1..19999"),
        ("GB_MAX_PAYLOAD", "63", "GB_MAX_PAYLOAD: must be a size in bytes in 64..64 MiB"),
        ("GB_MAX_PAYLOAD", "65MiB", "GB_MAX_PAYLOAD: must be a size in bytes"),
        ("GB_MAX_PAYLOAD", "1MB", "got '1MB'"),
        ("GB_SEND_BUFFER_LIMIT", "2GiB", "GB_SEND_BUFFER_LIMIT: must be a size in bytes in 4 KiB"),
        ("GB_HEARTBEAT_INTERVAL", "0", "GB_HEARTBEAT_INTERVAL: must be a number of seconds, more"),
        ("GB_HEARTBEAT_INTERVAL", "25000", "up to 3600, got '25000'"),
        ("GB_HEARTBEAT_TIMEOUT", "nan", "GB_HEARTBEAT_TIMEOUT: must be a number of seconds"),
        ("GB_HELLO_TIMEOUT", "inf", "GB_HELLO_TIMEOUT: must be a number of seconds"),
        ("GB_HELLO_TIMEOUT", "soon", "got 'soon'"),
        ("GB_DRAIN_TIMEOUT", "-1", "GB_DRAIN_TIMEOUT: must be a number of seconds, 0 up to 3600"),
        ("GB_JWT_LEEWAY", "301", "GB_JWT_LEEWAY: must be a number of seconds, 0 up to 300"),
        ("GB_LOG_LEVEL", "verbose", "GB_LOG_LEVEL: must be one of debug, info, warning, error"),
        ("GB_BROKER", "kafka", "GB_BROKER: must be one of memory, redis, got 'kafka'"),
        ("GB_REDIS_URL", "http://x", "GB_REDIS_URL: must be a redis://, rediss:// or unix:// URL"),
        ("GB_HOST", "", "GB_HOST: must be a host name or address, got ''"),
        ("GB_HOST", "a b", "GB_HOST: must be a host name or address"),
        ("GB_NODE_ID", "a/b", "GB_NODE_ID: must be a name matching"),
        ("GB_JWT_AUDIENCE", "", "GB_JWT_AUDIENCE: must be a non-empty name"),
        ("GB_JWT_ISSUER", "has space", "GB_JWT_ISSUER: must be a name"),
        ("GB_DATA_DIR", "  ", "GB_DATA_DIR: must be a non-empty path"),
        ("GB_MAX_SUBSCRIPTIONS", "0", "GB_MAX_SUBSCRIPTIONS: must be an integer in 1..1000000"),
        ("GB_RATE_LIMIT", "x", "GB_RATE_LIMIT: must be an integer"),
        ("GB_RATE_BURST", "0", "GB_RATE_BURST: must be an integer in 1..10000000"),
    ],
)
def test_bad_env_value_names_the_setting(var: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({var: value})
    assert expected in str(info.value)
    assert str(info.value).startswith(var)
    assert isinstance(info.value, ValueError)


def test_short_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"GB_JWT_SECRET": "hunter2"})
    message = str(info.value)
    assert message == "GB_JWT_SECRET: must be at least 32 bytes for HS256, got 7"
    assert "hunter2" not in message


def test_secret_is_not_in_repr() -> None:
    s = load_settings({"GB_JWT_SECRET": SECRET})
    assert SECRET not in repr(s) and SECRET not in str(s)


def test_several_errors_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"GB_WS_PORT": "x", "GB_BROKER": "y"})
    assert "GB_WS_PORT:" in str(info.value) and "GB_BROKER:" in str(info.value)


def test_unknown_env_variable_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"GB_WS_PROT": "1"})
    assert str(info.value) == "GB_WS_PROT: unknown setting (did you mean GB_WS_PORT?)"
    with pytest.raises(ConfigError, match=r"^GB_ZZZZZZ: unknown setting$"):
        load_settings({"GB_ZZZZZZ": "1"})
    # Names are upper case only: a mixed-case spelling is a typo, not the setting.
    with pytest.raises(ConfigError, match="GB_Ws_Port: unknown setting"):
        load_settings({"GB_Ws_Port": "1"})


def test_send_buffer_must_hold_a_full_payload() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"GB_MAX_PAYLOAD": "8MiB"})
    assert str(info.value) == (
        "GB_SEND_BUFFER_LIMIT (4194304) must be at least GB_MAX_PAYLOAD (8388608)"
    )
    s = load_settings({"GB_MAX_PAYLOAD": "8MiB", "GB_SEND_BUFFER_LIMIT": "8MiB"})
    assert s.max_payload == s.send_buffer_limit == 8 << 20


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "gb.toml"
    path.write_text(text)
    return str(path)


def test_file_values_and_env_precedence(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'ws_port = 9001\nhttp_port = 9002\nmax_payload = "2MiB"\nheartbeat_interval = 3\n'
        'log_level = "warning"\njwt_leeway = 1.5\n',
    )
    s = load_settings({"GB_HTTP_PORT": "9100"}, file=path)
    assert (s.ws_port, s.http_port) == (9001, 9100)  # env wins over the file
    assert s.max_payload == 2 << 20
    assert (s.heartbeat_interval, s.jwt_leeway, s.log_level) == (3.0, 1.5, "warning")


def test_file_named_by_gb_config(tmp_path: Path) -> None:
    path = _write(tmp_path, "workers = 3\n")
    assert load_settings({CONFIG_ENV: path}).workers == 3
    other = tmp_path / "other.toml"
    other.write_text("workers = 5\n")
    assert load_settings({CONFIG_ENV: path}, file=str(other)).workers == 5  # argument wins


def test_bad_file_value_names_key_and_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "ws_port = true\n")
    with pytest.raises(ConfigError) as info:
        load_settings({}, file=path)
    assert str(info.value) == f"ws_port in {path}: must be an integer in 0..65535, got True"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("workers = 2.0\n", "workers in {path}: must be an integer in 1..1024, got 2.0"),
        ("hello_timeout = true\n", "hello_timeout in {path}: must be a number of seconds"),
        ("host = 5\n", "host in {path}: must be a host name or address, got 5"),
        ("data_dir = 5\n", "data_dir in {path}: must be a non-empty path, got 5"),
        ("log_level = 1\n", "log_level in {path}: must be one of"),
        ("jwt_secret = 12345\n", "jwt_secret in {path}: must be a string, got a int"),
        ("jwt_public_key = 7\n", "jwt_public_key in {path}: must be PEM text or a path"),
        ("[ws_port]\nx = 1\n", "ws_port in {path}: must be an integer"),
    ],
)
def test_bad_file_types(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings({}, file=path)
    assert expected.format(path=path) in str(info.value)


def test_unknown_file_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "ws_prot = 1\nzzzzzz = 2\n")
    with pytest.raises(ConfigError) as info:
        load_settings({}, file=path)
    assert str(info.value) == (
        f"ws_prot in {path}: unknown setting (did you mean ws_port?); "
        f"zzzzzz in {path}: unknown setting"
    )


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=rf"^{missing}: cannot read config file: No such file"):
        load_settings({}, file=missing)
    with pytest.raises(ConfigError, match=rf"^GB_CONFIG={missing}: cannot read config file"):
        load_settings({CONFIG_ENV: missing})
    bad = _write(tmp_path, "ws_port = = 1\n")
    with pytest.raises(ConfigError, match=rf"^{bad}: not valid TOML"):
        load_settings({}, file=bad)


def test_empty_gb_config_means_no_file() -> None:
    assert load_settings({CONFIG_ENV: ""}).ws_port == 8765


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("GB_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("GB_WS_PORT", "1234")
    assert load_settings().ws_port == 1234


def test_public_key_as_text_and_as_path(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    pem = _public_pem(rsa_key)
    assert load_settings({"GB_JWT_PUBLIC_KEY": pem}).jwt_public_key == pem
    key_file = tmp_path / "jwt.pub.pem"
    key_file.write_text(pem)
    assert load_settings({"GB_JWT_PUBLIC_KEY": str(key_file)}).jwt_public_key == pem


def test_bad_public_keys(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ConfigError, match=r"^GB_JWT_PUBLIC_KEY: cannot read PEM file '/nonexist"):
        load_settings({"GB_JWT_PUBLIC_KEY": "/nonexistent/key.pem"})
    binary = tmp_path / "binary.pem"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="GB_JWT_PUBLIC_KEY: cannot read PEM file"):
        load_settings({"GB_JWT_PUBLIC_KEY": str(binary)})
    private_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(ConfigError, match="GB_JWT_PUBLIC_KEY: must be an RSA public key in PEM"):
        load_settings({"GB_JWT_PUBLIC_KEY": private_pem})
    garbage = "-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n"
    with pytest.raises(ConfigError, match="GB_JWT_PUBLIC_KEY: must be an RSA public key"):
        load_settings({"GB_JWT_PUBLIC_KEY": garbage})
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(ConfigError, match="GB_JWT_PUBLIC_KEY: must be an RSA public key"):
        load_settings({"GB_JWT_PUBLIC_KEY": ec_pem})
    small = _public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(ConfigError, match="must be an RSA key of at least 2048 bits"):
        load_settings({"GB_JWT_PUBLIC_KEY": small})


def test_settings_are_frozen_and_validated_when_built_directly() -> None:
    s = Settings(ws_port=1, jwt_secret=SECRET, data_dir=Path("/tmp/x"), jwt_issuer=None)
    assert (s.ws_port, s.data_dir, s.jwt_issuer) == (1, Path("/tmp/x"), None)
    with pytest.raises(ValidationError):
        s.ws_port = 2  # type: ignore[misc]
    with pytest.raises(ValidationError, match=r"must be an integer in 0\.\.65535"):
        Settings(ws_port=70000)
    with pytest.raises(ValidationError):
        Settings(unknown=1)  # type: ignore[call-arg]
    assert Settings(jwt_secret=None).jwt_secret is None


def test_env_help_lists_every_setting() -> None:
    text = Settings.env_help()
    lines = text.strip().splitlines()
    assert lines[0] == "| setting | env | type | default | description |"
    assert len(lines) == 2 + len(Settings.model_fields)
    for name in Settings.model_fields:
        assert f"| {name} | `GB_{name.upper()}` |" in text
    assert (
        "| ws_port | `GB_WS_PORT` | integer 0..65535 | `8765` | "
        "WebSocket (data plane) port; 0 picks a free one. |" in text
    )
    assert "| `<hostname>-<pid>` |" in text
    assert "| jwt_secret | `GB_JWT_SECRET` | text, 32+ bytes (optional) | unset |" in text
    assert "| max_payload | `GB_MAX_PAYLOAD` | bytes 64..64 MiB |" in text
    assert "| drain_timeout | `GB_DRAIN_TIMEOUT` | seconds 0..3600 |" in text
    assert "| hello_timeout | `GB_HELLO_TIMEOUT` | seconds >0..3600 |" in text
    assert "| broker | `GB_BROKER` | one of memory, redis |" in text
    for line in lines:  # every row has exactly the five columns (no stray '|')
        assert line.count("|") == 6
