"""UUIDv7 ids: layout, order within a millisecond and across clock jumps, time extraction."""

from __future__ import annotations

import datetime
import threading
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gb.core.messaging.ids import IdGenerator, created_at_of, id_at, new_message_id
from gb.core.messaging.record import created_at_of as record_created_at

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def test_new_ids_are_v7_rfc_variant_and_carry_now() -> None:
    before = datetime.datetime.now(datetime.UTC)
    message_id = new_message_id()
    after = datetime.datetime.now(datetime.UTC)
    assert message_id.version == 7
    assert message_id.variant == uuid.RFC_4122
    created = created_at_of(message_id)
    assert before - datetime.timedelta(milliseconds=1) <= created <= after
    assert created == record_created_at(message_id)  # the codec agrees on the time


def test_ids_increase_within_a_millisecond_and_borrow_the_next_one() -> None:
    generator = IdGenerator()
    ids = [generator.new(now_ms=1_000_000) for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5000
    times = {created_at_of(i) for i in ids}
    start = EPOCH + datetime.timedelta(milliseconds=1_000_000)
    # The counter starts in the lower half of 4096, so 5000 ids need a borrowed millisecond.
    assert start in times
    assert max(times) > start


def test_ids_keep_increasing_when_the_clock_goes_back() -> None:
    generator = IdGenerator()
    late = generator.new(now_ms=2_000_000)
    early = generator.new(now_ms=1_000_000)
    assert early > late
    assert created_at_of(early) == EPOCH + datetime.timedelta(milliseconds=2_000_000)
    assert generator.new(now_ms=3_000_000) > early


def test_ids_are_unique_across_threads() -> None:
    generator = IdGenerator()
    made: list[uuid.UUID] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [generator.new() for _ in range(2000)]
        assert mine == sorted(mine)
        with lock:
            made.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 8000


def test_created_at_of_refuses_ids_without_a_time() -> None:
    with pytest.raises(ValueError, match="is not a UUIDv7"):
        created_at_of(uuid.uuid4())


def test_id_at_is_the_smallest_id_of_its_millisecond() -> None:
    now = datetime.datetime.now(datetime.UTC)
    floor = id_at(now)
    assert floor.version == 7
    assert created_at_of(floor) == now.replace(microsecond=now.microsecond // 1000 * 1000)
    time.sleep(0.002)
    assert new_message_id() > floor
    assert id_at(now + datetime.timedelta(milliseconds=1)) > floor


def test_id_at_refuses_naive_and_pre_epoch_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        id_at(datetime.datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="before 1970"):
        id_at(datetime.datetime(1969, 12, 31, tzinfo=datetime.UTC))


def test_created_at_of_refuses_times_past_year_9999() -> None:
    with pytest.raises(ValueError, match="past the year 9999"):
        created_at_of(IdGenerator().new(now_ms=2**48 - 1))


MAX_MS = (datetime.datetime.max.replace(tzinfo=datetime.UTC) - EPOCH) // datetime.timedelta(
    milliseconds=1
)


@given(st.integers(min_value=0, max_value=MAX_MS))
def test_the_time_round_trips_for_every_millisecond(ms: int) -> None:
    message_id = IdGenerator().new(now_ms=ms)
    assert created_at_of(message_id) == EPOCH + datetime.timedelta(milliseconds=ms)
    assert id_at(created_at_of(message_id)) <= message_id
