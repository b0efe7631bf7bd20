import pytest

from gb.core.channels import Access, access, valid_name


@pytest.mark.parametrize(
    "name", ["room", "a", "room:42", "user:u1:inbox", "x.y_z-w/v@q", "A" * 200]
)
def test_valid_names(name):
    assert valid_name(name)


@pytest.mark.parametrize(
    "name", ["", " room", "-x", "a" * 201, "room name", "é", None, 42, "a\x00b"]
)
def test_invalid_names(name):
    assert not valid_name(name)


def test_user_channels_are_private_to_their_user_or_admins():
    assert access("user:u1", "u1", frozenset()) == Access(subscribe=True, publish=True)
    assert access("user:u1:inbox", "u1", frozenset()).subscribe
    assert access("user:u1", "u2", frozenset({"user"})) == Access(subscribe=False, publish=True)
    assert access("user:u1", "u2", frozenset({"instance_admin"})).subscribe


def test_sys_channels_publish_only_for_system_roles():
    assert access("sys:news", "u", frozenset({"user"})) == Access(subscribe=True, publish=False)
    assert access("sys:news", "b", frozenset({"bot"})).publish


def test_viewers_only_subscribe():
    assert access("room", "u", frozenset({"viewer"})) == Access(subscribe=True, publish=False)
    assert access("room", "u", frozenset()) == Access(subscribe=True, publish=True)
