"""LOG's YAML: readable, and read back by a YAML parser as the same data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gb.compiler.stdlib.yamltext import scalar, to_yaml


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (7.0, "7"),
        (0.5, "0.5"),
        (dt.date(2024, 3, 5), "2024-03-05"),
        ("plain text", "plain text"),
        ("", '""'),
        ("yes", '"yes"'),
        ("12", '"12"'),
        ("a: b", '"a: b"'),
        ("- item", '"- item"'),
        ("two\nlines", '"two\\nlines"'),
        ("x #y", '"x #y"'),
        ("0x1f", '"0x1f"'),
        ("1:20", '"1:20"'),
        ("2024-03-05", '"2024-03-05"'),
        (".inf", '".inf"'),
        ("key:", '"key:"'),
        ("bell\x07", '"bell\\u0007"'),
    ],
)
def test_scalars(value: Any, text: str) -> None:
    assert scalar(value) == text


def test_documents() -> None:
    order = {"id": 7.0, "items": [{"sku": "pen", "qty": 2.0}, []], "meta": {}, "tags": []}
    assert to_yaml(order) == ("id: 7\nitems:\n  - sku: pen\n    qty: 2\n  - []\nmeta: {}\ntags: []")
    assert to_yaml([[1.0, 2.0], "x"]) == "- - 1\n  - 2\n- x"
    assert to_yaml({}) == "{}" and to_yaml([]) == "[]" and to_yaml("x") == "x"


def values() -> st.SearchStrategy[Any]:
    tricky = st.sampled_from(
        ["0x1f", "1:20", "2024-03-05", ".inf", "~", "Yes", "1_000", "-", "<<", "="]
    )
    scalars = (
        st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=12) | tricky
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3)
        ),
        max_leaves=10,
    )


@given(values())
def test_yaml_reads_back_the_same_data(value: Any) -> None:
    assert yaml.safe_load(to_yaml(value)) == value
