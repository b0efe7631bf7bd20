"""Typed settings of a gb node, read from ``GB_*`` environment variables and a TOML file.

Every setting has one name: the field of :class:`Settings` (``ws_port``), the key in the TOML file
(``ws_port``) and the environment variable ``GB_`` + upper case (``GB_WS_PORT``). The environment
wins over the file; the file wins over the defaults. Unknown ``GB_*`` variables and unknown file
keys are errors, so a typo cannot silently leave a default in place.

Units: durations are seconds (plain numbers, fractions allowed: ``GB_HELLO_TIMEOUT=2.5``); sizes are
bytes (a plain integer, or an integer with a binary suffix: ``GB_MAX_PAYLOAD=4MiB``, ``64KiB``,
``1GiB``). Every bad value raises :class:`ConfigError` whose message names the setting, e.g.
``GB_WS_PORT: must be an integer in 0..65535, got 'abc'``. Secrets are never echoed.

``Settings.env_help()`` renders the table of every setting for the README and ``gb --help``.
"""

from __future__ import annotations

import abc
import difflib
import math
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

ENV_PREFIX = "GB_"
CONFIG_ENV = "GB_CONFIG"
"""The variable naming the TOML file (the ``file`` argument of :func:`load_settings` wins)."""

NON_SETTING_VARS = frozenset({CONFIG_ENV, "GB_NATIVE_TRACE"})
"""``GB_*`` variables that are not settings (the config file path; ``setup.py``'s build switch)."""

MIN_HMAC_SECRET = 32  # RFC 7518 3.2: an HS256 key must be at least as long as the hash
MIN_RSA_BITS = 2048
MAX_CONNECTIONS_CAP = 19_999  # a process may hold 20,000 open files; keep room for the rest

_KIB = 1024
_SIZE_UNITS = {"": 1, "kib": _KIB, "mib": _KIB**2, "gib": _KIB**3}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kmg]ib)?\s*$", re.IGNORECASE)


class ConfigError(ValueError):
    """A setting is unknown or has a bad value; the message names the setting."""


class _Parser(abc.ABC):
    """Turns a raw value (text from the environment, or a TOML value) into a typed one.

    Raises :class:`ValueError` with a message that says what is expected and what was given.
    ``kind`` is the type column of :meth:`Settings.env_help`.
    """

    kind = ""

    @abc.abstractmethod
    def __call__(self, raw: object) -> Any:
        """The typed value of ``raw``."""


class _Int(_Parser):
    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        self.kind = f"integer {lo}..{hi}"

    def __call__(self, raw: object) -> int:
        value = _as_int(raw)
        if value is None or not self.lo <= value <= self.hi:
            raise ValueError(f"must be an integer in {self.lo}..{self.hi}, got {raw!r}")
        return value


class _Size(_Parser):
    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        self.kind = f"bytes {_human(lo)}..{_human(hi)}"

    def __call__(self, raw: object) -> int:
        value = _as_int(raw)
        if value is None and isinstance(raw, str) and (m := _SIZE_RE.match(raw)):
            value = int(m[1]) * _SIZE_UNITS[(m[2] or "").lower()]
        if value is None or not self.lo <= value <= self.hi:
            raise ValueError(
                f"must be a size in bytes in {_human(self.lo)}..{_human(self.hi)} "
                f"(an integer, optionally with KiB/MiB/GiB), got {raw!r}"
            )
        return value


class _Seconds(_Parser):
    def __init__(self, hi: float, *, zero_ok: bool) -> None:
        self.hi, self.zero_ok = hi, zero_ok
        self.kind = f"seconds {'0' if zero_ok else '>0'}..{hi:g}"

    def __call__(self, raw: object) -> float:
        value = _as_float(raw)
        if value is None or value > self.hi or value < 0 or (value == 0 and not self.zero_ok):
            low = "0" if self.zero_ok else "more than 0"
            raise ValueError(f"must be a number of seconds, {low} up to {self.hi:g}, got {raw!r}")
        return value


class _Choice(_Parser):
    def __init__(self, *options: str) -> None:
        self.options = options
        self.kind = "one of " + ", ".join(options)

    def __call__(self, raw: object) -> str:
        value = raw.strip().lower() if isinstance(raw, str) else None
        if value not in self.options:
            raise ValueError(f"must be one of {', '.join(self.options)}, got {raw!r}")
        return value


class _Text(_Parser):
    """A string matching ``pattern``; with ``optional``, empty text means unset (None)."""

    def __init__(self, pattern: str, what: str, *, optional: bool = False) -> None:
        self.pattern = re.compile(pattern)
        self.what, self.optional = what, optional
        self.kind = f"{what} (optional)" if optional else what

    def __call__(self, raw: object) -> str | None:
        if raw is None and self.optional:
            return None
        if isinstance(raw, str):
            if raw == "" and self.optional:
                return None
            if self.pattern.fullmatch(raw):
                return raw
        raise ValueError(f"must be {self.what}, got {raw!r}")


class _Dir(_Parser):
    kind = "path"

    def __call__(self, raw: object) -> Path:
        if isinstance(raw, Path):
            return raw
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError(f"must be a non-empty path, got {raw!r}")
        return Path(raw).expanduser()


class _Secret(_Parser):
    kind = f"text, {MIN_HMAC_SECRET}+ bytes (optional)"

    def __call__(self, raw: object) -> str | None:
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str):
            raise ValueError(f"must be a string, got a {type(raw).__name__}")
        size = len(raw.encode())
        if size < MIN_HMAC_SECRET:
            # Never echo a secret; its length is enough to act on.
            raise ValueError(f"must be at least {MIN_HMAC_SECRET} bytes for HS256, got {size}")
        return raw


class _PublicKey(_Parser):
    """RS256 verification key: PEM text, or a path to a PEM file (read once, at load)."""

    kind = "RSA public key: PEM text or path (optional)"

    def __call__(self, raw: object) -> str | None:
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str):
            raise ValueError(f"must be PEM text or a path to a PEM file, got {raw!r}")
        pem = raw
        if not raw.lstrip().startswith("-----BEGIN"):
            try:
                pem = Path(raw).expanduser().read_text()
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise ValueError(f"cannot read PEM file {raw!r}: {reason}") from None
        try:
            key = load_pem_public_key(pem.encode())
        except ValueError:
            key = None
        if not isinstance(key, RSAPublicKey):
            raise ValueError(f"must be an RSA public key in PEM form (from {_short(raw)})")
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"must be an RSA key of at least {MIN_RSA_BITS} bits")
        return pem


def _as_int(raw: object) -> int | None:
    """An int from an int (never a bool) or decimal text; None when it is neither."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d+\s*", raw):
        return int(raw)
    return None


def _as_float(raw: object) -> float | None:
    """A finite float from a number (never a bool) or numeric text; None otherwise."""
    value: float | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            return None
    return value if value is not None and math.isfinite(value) else None


def _human(size: int) -> str:
    for unit, factor in (("GiB", _KIB**3), ("MiB", _KIB**2), ("KiB", _KIB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return str(size)


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


_NAME = r"[A-Za-z0-9._:-]{1,128}"
Port = Annotated[int, BeforeValidator(_Int(0, 65535))]
Seconds = Annotated[float, BeforeValidator(_Seconds(3600.0, zero_ok=False))]


class Settings(BaseModel):
    """Every setting of a gb node; frozen once loaded. Build it with :func:`load_settings`.

    Units: ``*_timeout``, ``*_interval`` and ``jwt_leeway`` are seconds; ``max_payload`` and
    ``send_buffer_limit`` are bytes; ``rate_limit`` is frames per second per connection and
    ``rate_burst`` the frames a connection may send at once above that rate.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: Annotated[str, BeforeValidator(_Text(r"\S{1,253}", "a host name or address"))] = Field(
        "127.0.0.1", description="Interface the WebSocket and HTTP listeners bind to."
    )
    ws_port: Port = Field(8765, description="WebSocket (data plane) port; 0 picks a free one.")
    http_port: Port = Field(8080, description="HTTP control plane port; 0 picks a free one.")
    workers: Annotated[int, BeforeValidator(_Int(1, 1024))] = Field(
        1, description="Worker processes sharing the ports (SO_REUSEPORT)."
    )
    data_dir: Annotated[Path, BeforeValidator(_Dir())] = Field(
        Path(".gb-data"), description="Directory for local state (embedded services, files)."
    )
    node_id: Annotated[str, BeforeValidator(_Text(_NAME, f"a name matching {_NAME}"))] = Field(
        default_factory=_default_node_id,
        description="This node's name in metrics, logs and the cluster.",
    )
    log_level: Annotated[str, BeforeValidator(_Choice("debug", "info", "warning", "error"))] = (
        Field("info", description="Least severe log level written.")
    )
    max_payload: Annotated[int, BeforeValidator(_Size(64, 64 * _KIB**2))] = Field(
        _KIB**2, description="Largest frame payload accepted from a client, in bytes."
    )
    max_connections: Annotated[int, BeforeValidator(_Int(1, MAX_CONNECTIONS_CAP))] = Field(
        19_000, description="Connections per process; more are refused (fd limit is 20,000)."
    )
    send_buffer_limit: Annotated[int, BeforeValidator(_Size(4 * _KIB, _KIB**3))] = Field(
        4 * _KIB**2,
        description="Bytes queued to one connection before it is dropped as a slow consumer.",
    )
    heartbeat_interval: Seconds = Field(25.0, description="Seconds between server PINGs.")
    heartbeat_timeout: Seconds = Field(
        10.0, description="Seconds to wait for any frame after a PING before closing."
    )
    hello_timeout: Seconds = Field(5.0, description="Seconds a new connection has to send HELLO.")
    drain_timeout: Annotated[float, BeforeValidator(_Seconds(3600.0, zero_ok=True))] = Field(
        10.0, description="Seconds a draining node waits for clients to leave before closing."
    )
    max_subscriptions: Annotated[int, BeforeValidator(_Int(1, 1_000_000))] = Field(
        1000, description="Channels one connection may subscribe to."
    )
    rate_limit: Annotated[int, BeforeValidator(_Int(1, 1_000_000))] = Field(
        2000, description="Frames per second one connection may send, sustained."
    )
    rate_burst: Annotated[int, BeforeValidator(_Int(1, 10_000_000))] = Field(
        4000, description="Frames one connection may send at once above the sustained rate."
    )
    jwt_secret: Annotated[str | None, BeforeValidator(_Secret())] = Field(
        None, description="HS256 secret for client tokens.", repr=False
    )
    jwt_public_key: Annotated[str | None, BeforeValidator(_PublicKey())] = Field(
        None, description="RS256 public key for client tokens (PEM text or a PEM file path)."
    )
    jwt_audience: Annotated[str, BeforeValidator(_Text(r"\S{1,256}", "a non-empty name"))] = Field(
        "gb", description="Required `aud` claim of client tokens."
    )
    jwt_issuer: Annotated[
        str | None, BeforeValidator(_Text(r"\S{1,256}", "a name", optional=True))
    ] = Field(None, description="Required `iss` claim of client tokens, when set.")
    jwt_leeway: Annotated[float, BeforeValidator(_Seconds(300.0, zero_ok=True))] = Field(
        5.0, description="Seconds of clock skew tolerated on exp, nbf and iat."
    )
    broker: Annotated[str, BeforeValidator(_Choice("memory", "redis"))] = Field(
        "memory", description="Pub/sub between nodes: in-process (one node) or Redis."
    )
    redis_url: Annotated[
        str, BeforeValidator(_Text(r"(rediss?|unix)://\S+", "a redis://, rediss:// or unix:// URL"))
    ] = Field("redis://127.0.0.1:6379/0", description="Redis used when broker is redis.")

    database_url: Annotated[
        str | None,
        BeforeValidator(_Text(r"postgres(ql)?://\S+", "a postgresql:// URL", optional=True)),
    ] = Field(
        None,
        description="Control database (also shard 0); unset: an embedded PostgreSQL in data_dir.",
        repr=False,
    )
    db_pool_size: Annotated[int, BeforeValidator(_Int(1, 1000))] = Field(
        10, description="Connections per database pool (control, each shard, each replica)."
    )

    kafka_bootstrap: Annotated[
        str | None,
        BeforeValidator(_Text(r"[^\s,]+(,[^\s,]+)*", "host:port[,host:port...]", optional=True)),
    ] = Field(None, description="Kafka brokers for the message log; unset: the embedded log.")
    kafka_replication: Annotated[int, BeforeValidator(_Int(1, 32))] = Field(
        3, description="Replicas of a log topic gb creates (min.insync.replicas: 2, or 1 alone)."
    )
    kafka_idempotent: Annotated[str, BeforeValidator(_Choice("on", "off"))] = Field(
        "on", description="Idempotent Kafka producer; off only for brokers without InitProducerId."
    )
    log_topic: Annotated[str, BeforeValidator(_Text(r"[A-Za-z0-9._-]{1,249}", "a topic name"))] = (
        Field("gb.messages", description="Log topic of messages (keyed by conversation).")
    )
    log_partitions: Annotated[int, BeforeValidator(_Int(1, 1024))] = Field(
        16, description="Partitions of the log topic when gb creates it; never change it later."
    )
    persister: Annotated[str, BeforeValidator(_Choice("inprocess", "off"))] = Field(
        "inprocess",
        description="Persist the log to PostgreSQL inside this node, or not (`gb persister`).",
    )
    persister_batch: Annotated[int, BeforeValidator(_Int(1, 100_000))] = Field(
        5000, description="Records the persister writes per batch (one transaction per shard)."
    )
    persister_linger: Annotated[float, BeforeValidator(_Seconds(10.0, zero_ok=True))] = Field(
        0.05, description="Seconds the persister waits to fill a batch after its first record."
    )
    max_message_bytes: Annotated[int, BeforeValidator(_Size(64, 16 * _KIB**2))] = Field(
        64 * _KIB, description="Largest message content (UTF-8 bytes) send_message accepts."
    )
    user_message_rate: Annotated[int, BeforeValidator(_Int(1, 1_000_000))] = Field(
        20, description="Messages per second one user may send, sustained (burst: 5x)."
    )
    tenant_message_rate: Annotated[int, BeforeValidator(_Int(1, 10_000_000))] = Field(
        2000, description="Messages per second one customer may send, sustained (burst: 5x)."
    )
    recent_history: Annotated[int, BeforeValidator(_Int(0, 100_000))] = Field(
        500, description="Messages per conversation kept in the recent-history cache."
    )
    recent_history_ttl: Annotated[float, BeforeValidator(_Seconds(7 * 86_400.0, zero_ok=False))] = (
        Field(
            3600.0,
            description="Seconds a conversation's recent history outlives its last send "
            "(keep it above the persister's lag).",
        )
    )
    message_pending_timeout: Seconds = Field(
        30.0,
        description="Seconds after which a send that never completed in the recent cache is "
        "settled from PostgreSQL (above the log's append timeout plus clock skew).",
    )
    idempotency_ttl: Annotated[float, BeforeValidator(_Seconds(30 * 86_400.0, zero_ok=False))] = (
        Field(86_400.0, description="Seconds the fast store remembers a client's message key.")
    )
    membership_ttl: Annotated[float, BeforeValidator(_Seconds(300.0, zero_ok=False))] = Field(
        5.0, description="Seconds a node trusts a cached membership answer (sends, subscribes)."
    )
    presence_ttl: Seconds = Field(
        30.0, description="Seconds a crashed node's presence entries outlive its last heartbeat."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.send_buffer_limit < self.max_payload:
            # A single full-size DELIVER would mark every subscriber a slow consumer.
            raise ValueError(
                f"GB_SEND_BUFFER_LIMIT ({self.send_buffer_limit}) must be at least "
                f"GB_MAX_PAYLOAD ({self.max_payload})"
            )
        return self

    @staticmethod
    def env_name(field: str) -> str:
        """The environment variable of setting ``field``: ``ws_port`` -> ``GB_WS_PORT``."""
        return ENV_PREFIX + field.upper()

    @classmethod
    def env_help(cls) -> str:
        """A Markdown table of every setting: name, variable, type, default and meaning."""
        rows = ["| setting | env | type | default | description |", "|---|---|---|---|---|"]
        for name, field in cls.model_fields.items():
            kind = next(
                m.func.kind
                for m in field.metadata
                if isinstance(m, BeforeValidator) and isinstance(m.func, _Parser)
            )
            if field.default_factory is not None:
                default = "`<hostname>-<pid>`"
            elif field.default is None:
                default = "unset"
            else:
                default = f"`{field.default}`"
            rows.append(
                f"| {name} | `{cls.env_name(name)}` | {kind} | {default} | {field.description} |"
            )
        return "\n".join(rows) + "\n"


def load_settings(env: Mapping[str, str] | None = None, file: str | None = None) -> Settings:
    """Settings from ``env`` (default ``os.environ``) over the TOML ``file`` over the defaults.

    The file is ``file`` when given, else the path in ``GB_CONFIG``, else none. Raises
    :class:`ConfigError` naming every unknown or bad setting.
    """
    env = os.environ if env is None else env
    raw: dict[str, object] = {}
    labels: dict[str, str] = {}
    path = file if file is not None else env.get(CONFIG_ENV) or None
    if path is not None:
        for key, value in _read_file(path, file is None).items():
            raw[key] = value
            labels[key] = f"{key} in {path}"
    problems: list[str] = []
    for var, value in env.items():
        if not var.startswith(ENV_PREFIX) or var in NON_SETTING_VARS:
            continue
        name = var[len(ENV_PREFIX) :].lower()
        if name not in Settings.model_fields or var != Settings.env_name(name):
            env_names = [Settings.env_name(n) for n in Settings.model_fields]
            problems.append(f"{var}: unknown setting{_did_you_mean(var, env_names)}")
            continue
        raw[name] = value
        labels[name] = var
    if problems:
        raise ConfigError("; ".join(problems))
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, labels)) from None


def _read_file(path: str, from_env: bool) -> dict[str, object]:
    origin = f"{CONFIG_ENV}={path}" if from_env else path
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read config file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from None
    unknown = [k for k in data if k not in Settings.model_fields]
    if unknown:
        names = list(Settings.model_fields)
        raise ConfigError(
            "; ".join(f"{k} in {path}: unknown setting{_did_you_mean(k, names)}" for k in unknown)
        )
    return data


def _did_you_mean(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _describe(exc: ValidationError, labels: Mapping[str, str]) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        cause = err.get("ctx", {}).get("error")
        message = str(cause) if cause is not None else err["msg"]
        if err["loc"]:
            field = str(err["loc"][0])
            parts.append(f"{labels.get(field, Settings.env_name(field))}: {message}")
        else:
            parts.append(message)
    return "; ".join(parts)
