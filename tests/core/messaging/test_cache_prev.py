"""The vouched predecessor ``add`` returns (live events carry it as ``prev``), both caches."""

from __future__ import annotations

import uuid

from .test_cache import caches, message
from .test_service_support import redis_prefix

__all__ = ["caches", "redis_prefix"]  # fixtures, used by name


async def test_an_opened_conversation_chains_from_minus_one(caches) -> None:
    cache = caches()
    conv = uuid.uuid4()
    await cache.open(conv)
    first, second = message(conv, 3), message(conv, 8)
    for m in (first, second):
        await cache.begin(conv, m.id)
    assert await cache.add(conv, first) is None  # the second intent may still land below 3
    assert await cache.add(conv, second) == 3
    third = message(conv, 12)
    await cache.begin(conv, third.id)
    assert await cache.add(conv, third) == 8


async def test_the_first_message_of_an_opened_conversation_has_no_predecessor(caches) -> None:
    cache = caches()
    conv = uuid.uuid4()
    await cache.open(conv)
    m = message(conv, 5)
    await cache.begin(conv, m.id)
    assert await cache.add(conv, m) == -1


async def test_nothing_is_vouched_below_the_floor_or_without_one(caches) -> None:
    cache = caches()
    conv = uuid.uuid4()
    fresh = message(conv, 20)  # a group that starts mid-conversation: its floor is 20
    await cache.begin(conv, fresh.id)
    assert await cache.add(conv, fresh) is None  # positions below 20 are not known here
    late = message(conv, 15)  # a message added under the floor (a repair) proves nothing
    assert await cache.add(conv, late) is None
    nxt = message(conv, 30)
    await cache.begin(conv, nxt.id)
    assert await cache.add(conv, nxt) == 20
    await cache.unvouch(conv)
    after = message(conv, 40)
    assert await cache.add(conv, after) is None  # no floor: nothing vouched


async def test_a_predecessor_below_a_trimmed_floor_is_not_vouched(caches) -> None:
    cache = caches(max_entries=2)
    conv = uuid.uuid4()
    await cache.open(conv)
    for position in (1, 2, 3):
        m = message(conv, position)
        await cache.begin(conv, m.id)
        await cache.add(conv, m)
    # The cache holds 2 and 3 now, floor 2; a message that lands late at 1.5 is impossible,
    # but one added at 2 again (a retry) sees only what is left.
    m = message(conv, 4)
    await cache.begin(conv, m.id)
    assert await cache.add(conv, m) == 3
    stray = message(conv, 0)  # below the floor
    assert await cache.add(conv, stray) is None
