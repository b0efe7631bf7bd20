"""The client's conversation timeline: a cursor that moves only over proven ground."""

from gb.client import Timeline


def message(position: int, conv: str = "c1") -> dict:
    return {"id": f"m{position}", "conversation_id": conv, "position": position}


def live(position: int, prev: int | None, conv: str = "c1") -> dict:
    return {"type": "message", "message": message(position, conv), "prev": prev}


def test_proven_links_move_the_cursor_in_any_arrival_order() -> None:
    t = Timeline()
    t.on_event({"type": "status"})  # other events are not messages
    t.on_event(live(3, -1))
    assert t.cursor("c1") == 3 and not t.stale
    t.on_event(live(9, 5))  # 5 is not held yet: a gap before 9
    assert t.cursor("c1") == 3 and t.stale == {"c1"}
    t.on_event(live(5, 3))  # the missing link arrives late: the chain closes
    assert t.cursor("c1") == 9
    assert [m["position"] for m in t.ordered("c1")] == [3, 5, 9]
    t.on_event(live(5, 3))  # a duplicate of a proven message changes nothing
    assert t.cursor("c1") == 9


def test_an_unproven_message_needs_recovery_and_recovery_settles_it() -> None:
    t = Timeline()
    t.on_event(live(4, None))
    assert t.stale == {"c1"} and t.cursor("c1") == -1
    t.on_recovered("c1", {"messages": [message(2), message(4)], "complete": False})
    assert t.cursor("c1") == 4 and t.stale == {"c1"}  # not complete: still stale
    t.on_event(live(12, 10))  # ahead of a gap
    t.on_recovered("c1", {"messages": [message(7)], "complete": True})
    assert t.cursor("c1") == 7 and t.stale == {"c1"}  # 10 is still missing
    t.on_recovered("c1", {"messages": [message(10), message(12)], "complete": True})
    assert t.cursor("c1") == 12 and not t.stale
    assert t.ordered("missing") == []


class FakeRpc:
    """Answers ``msg.recover`` like a server would (the test's peer, not a mock of gb)."""

    def __init__(self, answers: list[dict]) -> None:
        self.answers = answers
        self.asked: list[dict] = []

    async def rpc(self, method: str, params: dict, *, timeout: float) -> dict:
        assert method == "msg.recover"
        self.asked.append(params["positions"])
        return self.answers.pop(0)


async def test_recover_asks_from_the_cursors() -> None:
    t = Timeline()
    assert await t.recover(FakeRpc([])) is True  # nothing stale: no call
    t.on_event(live(3, None, "a"))
    t.on_event(live(8, None, "b"))
    server = FakeRpc(
        [
            {
                "conversations": {
                    "a": {"messages": [message(3, "a")], "complete": True},
                    "b": {"messages": [], "complete": False, "error": {"code": 8}},
                }
            }
        ]
    )
    assert await t.recover(server) is False  # type: ignore[arg-type]
    assert server.asked == [{"a": -1, "b": -1}]
    assert t.cursor("a") == 3 and not t.stale  # b is no longer readable: not retried
    server = FakeRpc([{"conversations": {"a": {"messages": [], "complete": True}}}])
    assert await t.recover(server, ["a"]) is True  # type: ignore[arg-type]
    assert server.asked == [{"a": 3}]
