import pytest

from gb.core.auth import Identity
from gb.core.rpc import RpcError, RpcRegistry
from gb.core.session import Session
from gb.protocol.codes import ErrorCode

SESSION = Session("s", Identity("c", "i", "u", frozenset({"user"}), 2e9), 1, "", False)


async def double(session, params):
    return params["x"] * 2


async def test_call_and_names():
    rpc = RpcRegistry()
    rpc.register("double", double)
    assert rpc.names() == ["double"]
    assert await rpc.call(SESSION, {"method": "double", "params": {"x": 4}}) == 8


async def test_params_default_to_an_empty_object():
    rpc = RpcRegistry()

    async def count(session, params):
        return len(params)

    rpc.register("count", count)
    assert await rpc.call(SESSION, {"method": "count"}) == 0
    assert await rpc.call(SESSION, {"method": "count", "params": None}) == 0


def test_duplicate_registration_is_an_error():
    rpc = RpcRegistry()
    rpc.register("double", double)
    with pytest.raises(ValueError, match="already registered"):
        rpc.register("double", double)


@pytest.mark.parametrize(
    "request_,code",
    [
        ([], ErrorCode.BAD_PAYLOAD),
        ({"params": {}}, ErrorCode.BAD_PAYLOAD),
        ({"method": 3}, ErrorCode.BAD_PAYLOAD),
        ({"method": "double", "params": [1]}, ErrorCode.BAD_PAYLOAD),
        ({"method": "nope"}, ErrorCode.UNKNOWN_METHOD),
        ({"method": "admin_only"}, ErrorCode.FORBIDDEN),
    ],
)
async def test_bad_calls_raise_with_a_code(request_, code):
    rpc = RpcRegistry()
    rpc.register("double", double)
    rpc.register("admin_only", double, roles=frozenset({"admin"}))
    with pytest.raises(RpcError) as info:
        await rpc.call(SESSION, request_)
    assert info.value.code == code
