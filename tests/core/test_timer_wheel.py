import pytest

from gb.core.timer_wheel import TimerWheel


def test_items_come_out_when_due_never_early():
    w: TimerWheel[str] = TimerWheel(tick=0.1, slots=8, now=0.0)
    w.schedule("a", 0.25)
    w.schedule("b", 0.55)
    assert len(w) == 2
    assert w.advance(0.2) == []
    assert w.advance(0.3) == ["a"]
    assert w.advance(0.5) == []
    assert w.advance(0.6) == ["b"]
    assert len(w) == 0


def test_deadline_beyond_one_turn_waits_for_its_round():
    w: TimerWheel[str] = TimerWheel(tick=1.0, slots=4, now=0.0)
    w.schedule("far", 9.5)  # two turns and a bit
    for t in range(1, 9):
        assert w.advance(float(t)) == []
    assert w.advance(10.0) == ["far"]


def test_past_deadline_fires_on_next_advance():
    w: TimerWheel[int] = TimerWheel(tick=0.5, slots=4, now=10.0)
    w.advance(12.0)
    w.schedule(1, 3.0)
    assert w.advance(12.0) == [1]


def test_long_pause_scans_one_turn_only_and_finds_everything():
    w: TimerWheel[int] = TimerWheel(tick=0.01, slots=16, now=0.0)
    for i in range(100):
        w.schedule(i, i * 0.013)
    assert sorted(w.advance(1000.0)) == list(range(100))


def test_many_items_in_one_slot_keep_the_later_ones():
    w: TimerWheel[int] = TimerWheel(tick=1.0, slots=2, now=0.0)
    w.schedule(1, 0.5)
    w.schedule(2, 2.5)  # same slot (index 2 % 2 == 0), a later round
    assert w.advance(1.0) == [1]
    assert w.advance(3.0) == [2]


@pytest.mark.parametrize("tick,slots", [(0, 4), (-1, 4), (1, 0)])
def test_bad_geometry_is_refused(tick, slots):
    with pytest.raises(ValueError):
        TimerWheel(tick=tick, slots=slots, now=0.0)
