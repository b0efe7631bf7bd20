"""Fuzzing the frame decoders: corpus replay plus mutation fuzz, native against reference.

Every input must give the same frames, or the same ``FrameError`` (code and message), from
``gb.core._native.frame`` and ``gb.protocol.codec``, and nothing but ``FrameError`` may be
raised. Run as a script with atheris installed for coverage-guided fuzzing (see README.md).
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gb.core._native import frame as native
from gb.protocol import codec as ref
from gb.protocol.codec import FrameError
from gb.protocol.codes import ErrorCode, FrameType

CORPUS = Path(__file__).parent / "corpus"
SEEDS = {path.name: path.read_bytes() for path in sorted(CORPUS.glob("*.bin"))}
LIMITS = (ref.DEFAULT_MAX_PAYLOAD, 0, 16, 64)
# (offset, struct format, mask) of version, type, flags and length.
HEADER_FIELDS = [(0, "<B", 0xFF), (1, "<B", 0xFF), (2, "<H", 0xFFFF), (4, "<I", 2**32 - 1)]


def run(fn: Any, data: bytes, limit: int) -> tuple[Any, ...]:
    """("ok", frames as tuples) or ("error", code, message); any other exception propagates."""
    try:
        result = fn(data, limit)
    except FrameError as err:
        return ("error", ErrorCode(err.code), err.message)
    frames = result if isinstance(result, list) else [result]
    return ("ok", [tuple(f) for f in frames])


def check(data: bytes) -> list[tuple[Any, ...]]:
    """Assert both codecs agree on ``data`` for every limit; returns the default-limit outcomes
    of ``decode`` and ``decode_message``."""
    outcomes = []
    for limit in LIMITS:
        for native_fn, ref_fn in (
            (native.decode, ref.decode),
            (native.decode_message, ref.decode_message),
        ):
            expected = run(ref_fn, data, limit)
            assert run(native_fn, data, limit) == expected, (data.hex(), limit, native_fn)
            if limit == ref.DEFAULT_MAX_PAYLOAD:
                outcomes.append(expected)
    return outcomes


def test_corpus_is_present() -> None:
    assert len(SEEDS) >= 20
    assert all(len(data) <= 4096 for data in SEEDS.values())
    assert all(name.startswith(("ok-", "bad-", "crash-")) for name in SEEDS)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_replay_corpus(name: str) -> None:
    data = SEEDS[name]
    single, message = check(data)
    if name.startswith("ok-"):
        assert message[0] == "ok"
        if single[1][0][0] != FrameType.BATCH:
            assert single == message
    elif name.startswith("bad-"):
        assert message[0] == "error"


def test_corpus_covers_every_type_and_every_error() -> None:
    types: set[int] = set()
    errors: set[str] = set()
    for data in SEEDS.values():
        single, message = check(data)
        if single[0] == "ok":
            types.add(single[1][0][0])
        if message[0] == "error":
            errors.add(" ".join(w for w in message[2].split() if not w.isdigit()))
    assert types == {int(t) for t in FrameType}
    assert {
        "frame of bytes is shorter than the header",
        "protocol version not supported",
        "unknown frame type",
        "reserved flag bits set: 0x0100",
        "payload of bytes exceeds",
        "payload length does not match the bytes present",
        "empty batch",
        "a batch may not contain a batch",
        "batch frame at offset is truncated",
    } <= errors


# --- mutation fuzz --------------------------------------------------------------------------


@st.composite
def mutants(draw: st.DrawFn) -> bytes:
    """A corpus seed after a few random edits, including splices with another seed."""
    seeds = sorted(SEEDS)
    data = bytearray(SEEDS[draw(st.sampled_from(seeds))])
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["flip", "byte", "cut", "insert", "splice", "field"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and at < len(data):
            data[at] = draw(st.sampled_from([0, 1, 0x0E, 0x7F, 0x80, 0xFF]))
        elif op == "cut":
            del data[at : at + draw(st.integers(1, 32))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "splice":
            data[at:] = SEEDS[draw(st.sampled_from(seeds))]
        elif op == "field" and len(data) >= 24:
            # Overwrite one header field with an edge value.
            offset, fmt, mask = draw(st.sampled_from(HEADER_FIELDS))
            edge = draw(st.sampled_from([0, 1, 2, 7, 8, 14, 15, 23, 24, 255, 256, 65535, 2**20]))
            struct.pack_into(fmt, data, offset, edge & mask)
    return bytes(data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_mutation_fuzz(data: bytes) -> None:
    check(data)


def fuzz_one_input(data: bytes) -> None:
    """The atheris entry point: any disagreement or stray exception is a finding."""
    check(data)


def main(argv: list[str]) -> None:  # pragma: no cover - run by hand with atheris installed
    """libFuzzer command line: a scratch corpus dir first (new inputs go there), then seeds."""
    import atheris

    atheris.instrument_all()  # guide on the reference codec's branches too
    atheris.Setup(argv, fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv)
