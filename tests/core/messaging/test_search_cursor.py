"""The search cursor: it round-trips, and anything else is a ValueError naming the cursor."""

from __future__ import annotations

import base64
import datetime
import math
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gb.core.messaging.search import _CURSOR, _decode_cursor, _encode_cursor, _Keyset

FINGERPRINT = b"\x01" * 8
UTC = datetime.UTC


def pack(
    version: int = 1, fingerprint: bytes = FINGERPRINT, rank: float = 0.5, micros: int = 0
) -> str:
    packed = _CURSOR.pack(version, fingerprint, rank, micros, uuid.UUID(int=7).bytes)
    return base64.urlsafe_b64encode(packed).rstrip(b"=").decode()


@settings(max_examples=300, deadline=None)
@given(
    rank=st.floats(min_value=0, max_value=1e6, width=32, allow_subnormal=False),
    at=st.datetimes(timezones=st.just(UTC)),
    ident=st.uuids(),
)
def test_round_trip(rank: float, at: datetime.datetime, ident: uuid.UUID) -> None:
    keyset = _Keyset(rank, at, ident)
    cursor = _encode_cursor(FINGERPRINT, keyset)
    assert len(cursor) == 55 and "=" not in cursor
    assert _decode_cursor(cursor, FINGERPRINT) == keyset


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=80), st.text(alphabet="AB-_+/=", min_size=55, max_size=55)))
def test_anything_else_is_a_value_error(text: str) -> None:
    try:
        _decode_cursor(text, FINGERPRINT)
    except ValueError as exc:
        assert str(exc).startswith("cursor: ")


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=_CURSOR.size, max_size=_CURSOR.size))
def test_random_bytes_decode_or_fail_cleanly(packed: bytes) -> None:
    cursor = base64.urlsafe_b64encode(packed).rstrip(b"=").decode()
    try:
        keyset = _decode_cursor(cursor, packed[1:9])
    except ValueError as exc:
        assert str(exc).startswith("cursor: ")
    else:
        assert math.isfinite(keyset.rank) and keyset.rank >= 0
        assert keyset.created_at.tzinfo is UTC


def test_each_damage_is_named() -> None:
    assert _decode_cursor(pack(), FINGERPRINT).created_at == datetime.datetime(
        1970, 1, 1, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="cursor: unknown cursor version 2"):
        _decode_cursor(pack(version=2), FINGERPRINT)
    with pytest.raises(ValueError, match="cursor: belongs to another search"):
        _decode_cursor(pack(fingerprint=b"\x02" * 8), FINGERPRINT)
    for rank in (math.nan, math.inf, -1.0):
        with pytest.raises(ValueError, match=r"cursor: damaged \(bad rank\)"):
            _decode_cursor(pack(rank=rank), FINGERPRINT)
    for micros in (-(2**63), 2**63 - 1):
        with pytest.raises(ValueError, match=r"cursor: damaged \(bad time\)"):
            _decode_cursor(pack(micros=micros), FINGERPRINT)
    with pytest.raises(ValueError, match="cursor: not a cursor of this search"):
        _decode_cursor(pack()[:-1] + "*", FINGERPRINT)
