"""Generic traversal of the syntax tree (the parser's final pass and the checker use it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from . import ast

Node = Any  # any dataclass of ``ast``


# Field names per node class, computed once: reflection per visit dominated parse time.
_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls))
    for cls in vars(ast).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls is not ast.Pos
}


def _is_node(value: object) -> bool:
    return type(value) in _FIELDS


def children(node: Node) -> Iterator[Node]:
    """The direct child nodes of ``node``, in source order (lists and tuples flattened)."""
    for name in _FIELDS[type(node)]:
        yield from _nodes_in(getattr(node, name))


def _nodes_in(value: object) -> Iterator[Node]:
    if _is_node(value):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _nodes_in(item)


def walk(node: Node) -> Iterator[Node]:
    """``node`` and every node below it, depth first, in source order (without recursion, so
    any depth of tree is fine)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(children(current))))


def depth(node: Node) -> tuple[int, Node]:
    """The depth of the tree below ``node`` (1: a leaf) and its deepest node."""
    deepest, at = 1, node
    stack = [(node, 1)]
    while stack:
        current, level = stack.pop()
        if level > deepest:
            deepest, at = level, current
        stack.extend(reversed([(child, level + 1) for child in children(current)]))
    return deepest, at


def rewrite(node: Node, fn: Callable[[Node], Node]) -> Node:
    """Replace, bottom-up and in place, every node below ``node`` by ``fn(node)``."""
    for name in _FIELDS[type(node)]:
        setattr(node, name, _rewrite_value(getattr(node, name), fn))
    return node


def _rewrite_value(value: Any, fn: Callable[[Node], Node]) -> Any:
    if _is_node(value):
        return fn(rewrite(value, fn))
    if isinstance(value, list):
        return [_rewrite_value(item, fn) for item in value]
    if isinstance(value, tuple):
        return tuple(_rewrite_value(item, fn) for item in value)
    return value
