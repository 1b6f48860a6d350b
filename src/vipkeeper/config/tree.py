"""Blocks: the lexer's flat lines folded into a tree of keyword nodes.

Rules
- A `{` opens a block that belongs to the words line just before it at the same level (on the
  same physical line or an earlier one), as in keepalived. A `{` with no such line opens an
  anonymous block (keyword ""), which the parser reports and skips.
- Braces must balance over the whole configuration (include files included). A `}` with no open
  block, a block never closed, or nesting deeper than MAX_DEPTH is a `ConfigError`: keepalived
  only warns about these and then reads the rest of the file at the wrong level, silently moving
  keywords out of their blocks; vipkeeper refuses instead.

Theory of operation: one pass with an explicit stack (no recursion, so 100,000 `{` cannot
exhaust Python's stack); every node keeps the `Where` of its keyword.
"""

from __future__ import annotations

from .lexer import CLOSE, OPEN, Line
from .model import ConfigError, Where

MAX_DEPTH = 16


class Node:
    """One keyword line with its arguments and, when followed by `{ ... }`, its children."""

    __slots__ = ("keyword", "args", "where", "children")

    def __init__(self, keyword: str, args: tuple[str, ...], where: Where) -> None:
        self.keyword = keyword
        self.args = args
        self.where = where
        self.children: list[Node] | None = None

    @property
    def words(self) -> tuple[str, ...]:
        return (self.keyword, *self.args)

    def __repr__(self) -> str:  # for test failure messages
        kids = "" if self.children is None else f" {{{len(self.children)}}}"
        return f"Node({' '.join(self.words)!r} @{self.where}{kids})"


def build_tree(lines: tuple[Line, ...] | list[Line]) -> list[Node]:
    root: list[Node] = []
    # each level: (its children list, the node owning it, where its `{` was)
    stack: list[tuple[list[Node], Node | None, Where | None]] = [(root, None, None)]
    for line in lines:
        siblings = stack[-1][0]
        if line.kind == OPEN:
            if len(stack) > MAX_DEPTH:
                raise ConfigError(line.where, f"blocks nested more than {MAX_DEPTH} deep")
            owner = siblings[-1] if siblings and siblings[-1].children is None else None
            if owner is None:
                owner = Node("", (), line.where)
                siblings.append(owner)
            owner.children = []
            stack.append((owner.children, owner, line.where))
        elif line.kind == CLOSE:
            if len(stack) == 1:
                raise ConfigError(line.where, "unexpected '}': no block is open here (extra '}' or missing '{')")
            stack.pop()
        else:
            siblings.append(Node(line.words[0], line.words[1:], line.where))
    if len(stack) > 1:
        _, owner, opened = stack[-1]
        name = " ".join(owner.words) if owner is not None and owner.keyword else "block"
        where = opened or Where("<unknown>", 0)
        raise ConfigError(where, f"'{name} {{' is never closed: missing '}}' ({len(stack) - 1} block(s) open at end of input)")
    return root
