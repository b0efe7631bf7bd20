"""``protocol/SPEC.md`` states exactly what ``codes.py`` and ``codec.py`` implement."""

from __future__ import annotations

import ast
import io
import re
import struct
import tokenize
from pathlib import Path

import pytest

from gb.protocol import codec, codes
from gb.protocol.codes import RECONNECTABLE, CloseCode, ErrorCode, Flag, FrameType

SPEC = Path(codec.__file__).with_name("SPEC.md").read_text(encoding="utf-8")


def tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table in ``text`` as rows of stripped cells (separator rows dropped)."""
    found: list[list[list[str]]] = []
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append(cells)
        elif rows:
            found.append(rows)
            rows = []
    return found


def table(*header: str) -> list[dict[str, str]]:
    """The one table whose header row is exactly ``header``, as dicts with backticks removed."""
    matches = [t for t in tables(SPEC) if t[0] == list(header)]
    assert len(matches) == 1, f"expected one table headed {header}, found {len(matches)}"
    return [
        {k: v.replace("`", "") for k, v in zip(header, row, strict=True)} for row in matches[0][1:]
    ]


def member_comments(cls: type) -> dict[str, str]:
    """The comment beside each member of ``cls`` in ``codes.py``."""
    source = Path(codes.__file__).read_text(encoding="utf-8")
    by_line = {
        tok.start[0]: tok.string.lstrip("#").strip()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    (node,) = [
        n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == cls.__name__
    ]
    return {
        stmt.targets[0].id: by_line[stmt.lineno]
        for stmt in node.body
        if isinstance(stmt, ast.Assign)
        and isinstance(stmt.targets[0], ast.Name)
        and stmt.lineno in by_line
    }


def test_title_names_the_version() -> None:
    assert SPEC.startswith(f"# gb wire protocol v{codes.PROTOCOL_VERSION}\n")


def test_error_codes_table_is_error_code() -> None:
    rows = table("code", "name", "meaning")
    assert [(int(r["code"]), r["name"]) for r in rows] == [(e.value, e.name) for e in ErrorCode]
    comments = member_comments(ErrorCode)
    assert set(comments) == {e.name for e in ErrorCode}
    assert {r["name"]: r["meaning"] for r in rows} == comments


def test_close_codes_table_is_close_code() -> None:
    rows = table("code", "name", "meaning", "reconnect?")
    assert [(int(r["code"]), r["name"]) for r in rows] == [(c.value, c.name) for c in CloseCode]
    comments = member_comments(CloseCode)
    for row in rows:
        assert row["meaning"] == comments.get(row["name"], row["meaning"])
        assert row["meaning"], row
    reconnect = {r["name"] for r in rows if r["reconnect?"] == "yes"}
    assert reconnect == {c.name for c in RECONNECTABLE}
    assert {r["reconnect?"] for r in rows} == {"yes", "no"}


def test_frame_types_table_is_frame_type() -> None:
    rows = table("type", "name", "direction", "payload", "header fields that matter")
    hexes = [(f"0x{t.value:02X}", t.name) for t in FrameType]
    assert [(r["type"], r["name"]) for r in rows] == hexes
    assert all(r["direction"] in {"c→s", "s→c", "both"} for r in rows)
    # The direction agrees with the "c:" / "s:" / "either side" note beside each member.
    notes = member_comments(FrameType)
    for row in rows:
        note = notes.get(row["name"], "")
        sides = set(re.findall(r"\b([cs]):", note))
        if "either side" in note or sides == {"c", "s"}:
            assert row["direction"] == "both", row
        elif sides:
            assert row["direction"] == {"c": "c→s", "s": "s→c"}[sides.pop()], row


def test_flags_table_is_flag() -> None:
    rows = table("bit", "name", "meaning")
    members = [f for f in Flag if f.value]
    assert [(int(r["bit"], 16), r["name"]) for r in rows] == [(f.value, f.name) for f in members]
    assert {r["name"]: r["meaning"] for r in rows} == member_comments(Flag)


def test_header_table_matches_the_struct() -> None:
    rows = table("offset", "size", "field", "meaning")
    fields = [(int(r["offset"]), int(r["size"]), r["field"]) for r in rows]
    names = ["version", "type", "flags", "length", "request_id", "shard_key", "channel_id"]
    assert [f[2] for f in fields] == names
    sizes = [struct.calcsize("<" + c) for c in codec.HEADER.format[1:]]
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    assert [(f[0], f[1]) for f in fields] == list(zip(offsets, sizes, strict=True))
    assert sum(sizes) == codec.HEADER_SIZE
    assert "little-endian" in SPEC and codec.HEADER.format.startswith("<")


@pytest.mark.parametrize("row", table("scope", "name", "channel id"), ids=lambda r: r["name"])
def test_channel_id_vectors(row: dict[str, str]) -> None:
    assert codec.channel_id(row["scope"], row["name"]) == int(row["channel id"], 16)


def test_example_frame() -> None:
    (block,) = re.findall(r"```hex\n(.*?)\n```", SPEC, re.S)
    expected = codec.encode(
        FrameType.PUBLISH,
        b"hi",
        flags=Flag.ACK_REQUIRED,
        request_id=7,
        shard_key=3,
        channel_id=codec.channel_id("acme/main", "room:1"),
    )
    assert bytes.fromhex(block) == expected


def test_every_error_and_close_code_is_named_in_the_text() -> None:
    for member in [*ErrorCode, *CloseCode, *FrameType]:
        assert f"`{member.name}`" in SPEC, member
