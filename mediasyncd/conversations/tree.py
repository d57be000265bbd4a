"""The shape of a conversation's `mapping`: order, branches and neighbours, from `parent`.

Exports from 2026 write only `parent` on each node (no `children`), with the mapping's
keys in an order that says nothing (alphabetical, in the exports seen). So the tree is
always rebuilt from the parent links. A node's children are the nodes that name it as
their parent, ordered by the parent's `children` list where it has one (older exports),
then by `create_time` (a node without one first), then by mapping order.

Parent ids are matched exactly, else, for UUIDs, without regard to case (2023 exports
write some ids in upper case). A node whose parent is missing is a root. Nodes on a
parent cycle are reached from no root: they are walked last, from the first of them in
mapping order, so every node appears exactly once. One pass over the nodes builds
everything, and nothing is kept per node beyond the links themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mediasyncd.conversations.keys import is_uuid
from mediasyncd.jsonvalues import as_float

# How far below a tool message the assistant answer that presents its output is looked
# for, along the first-child chain (tool -> tool note -> assistant).
FOLLOWING_DEPTH = 3


def as_id(value: Any) -> str | None:
    """A node or message id as text (ids written as numbers are read as their digits)."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Ids as numbers appear in hand-edited exports; keep them readable and stable.
        return str(int(value)) if float(value).is_integer() else str(value)
    return None


def message_of(node: dict[str, Any]) -> dict[str, Any] | None:
    message = node.get("message")
    return message if isinstance(message, dict) else None


def role_of(node: dict[str, Any]) -> str | None:
    message = message_of(node)
    author = message.get("author") if message else None
    role = author.get("role") if isinstance(author, dict) else None
    return role if isinstance(role, str) else None


@dataclass
class ConversationTree:
    """Node ids in depth-first order, with each node's resolved parent and ordered children."""

    nodes: dict[str, dict[str, Any]]
    parent: dict[str, str | None]
    children: dict[str, list[str]]
    order: list[str]
    # The nearest ancestor node that carries a message (None: there is none).
    message_parent: dict[str, str | None]

    def resolve(self, node_id: str | None) -> str | None:
        """The mapping key an id names (exactly, else a UUID in another case), or None."""
        return _Resolver(self.nodes).find(node_id)

    def current_branch(self, current: str | None) -> set[str]:
        """The visible thread: the parent chain from `current_node`."""
        branch: set[str] = set()
        cursor = self.resolve(current)
        while cursor is not None and cursor not in branch:
            branch.add(cursor)
            cursor = self.parent[cursor]
        return branch

    def following_assistant(self, node_id: str) -> str | None:
        """The node of the first assistant message below `node_id`, along first children."""
        cursor = node_id
        for _ in range(FOLLOWING_DEPTH):
            below = self.children.get(cursor)
            if not below:
                return None
            cursor = below[0]
            if role_of(self.nodes[cursor]) == "assistant":
                return cursor
        return None

    def messages(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(node id, message) in tree order, for every node that carries a message."""
        for node_id in self.order:
            message = message_of(self.nodes[node_id])
            if message is not None:
                yield node_id, message


class _Resolver:
    def __init__(self, nodes: dict[str, dict[str, Any]]):
        self.nodes = nodes
        self._lowered: dict[str, str] | None = None

    def find(self, value: Any) -> str | None:
        ident = as_id(value)
        if ident is None:
            return None
        if ident in self.nodes:
            return ident
        if not is_uuid(ident):
            return None
        if self._lowered is None:
            self._lowered = {k.lower(): k for k in self.nodes if is_uuid(k)}
        return self._lowered.get(ident.lower())


def build_tree(nodes: dict[str, dict[str, Any]]) -> ConversationTree:
    resolver = _Resolver(nodes)
    parent: dict[str, str | None] = {}
    children: dict[str, list[str]] = {}
    for node_id, node in nodes.items():
        above = resolver.find(node.get("parent"))
        if above == node_id:
            above = None  # a node that is its own parent is a root
        parent[node_id] = above
        if above is not None:
            children.setdefault(above, []).append(node_id)
    for above, below in children.items():
        if len(below) > 1:
            below.sort(key=_sibling_order(nodes, above, resolver, below))
    order, message_parent = _walk(nodes, parent, children)
    return ConversationTree(nodes, parent, children, order, message_parent)


def _sibling_order(
    nodes: dict[str, dict[str, Any]], above: str, resolver: _Resolver, below: list[str]
) -> Any:
    listed: dict[str, int] = {}
    written = nodes[above].get("children")
    if isinstance(written, list):
        for position, child in enumerate(written):
            found = resolver.find(child)
            if found is not None:
                listed.setdefault(found, position)
    arrival = {node_id: n for n, node_id in enumerate(below)}  # mapping order

    def key(node_id: str) -> tuple[int, int, float, int]:
        message = message_of(nodes[node_id])
        created = as_float(message.get("create_time")) if message else None
        timed = 0 if created is None else 1
        return (listed.get(node_id, len(listed)), timed, created or 0.0, arrival[node_id])

    return key


def _walk(
    nodes: dict[str, dict[str, Any]],
    parent: dict[str, str | None],
    children: dict[str, list[str]],
) -> tuple[list[str], dict[str, str | None]]:
    order: list[str] = []
    message_parent: dict[str, str | None] = {}

    def walk(start: str, above: str | None) -> None:
        stack = [(start, above)]
        while stack:
            node_id, carried = stack.pop()
            if node_id in message_parent:
                continue
            message_parent[node_id] = carried
            order.append(node_id)
            here = node_id if message_of(nodes[node_id]) is not None else carried
            stack.extend((child, here) for child in reversed(children.get(node_id, ())))

    for node_id in nodes:
        if parent[node_id] is None:
            walk(node_id, None)
    for node_id in nodes:
        if node_id not in message_parent:
            walk(node_id, _message_above(nodes, parent, node_id))
    return order, message_parent


def _message_above(
    nodes: dict[str, dict[str, Any]], parent: dict[str, str | None], node_id: str
) -> str | None:
    """The nearest ancestor with a message of a node on a cycle (walked once around)."""
    seen = {node_id}
    cursor = parent[node_id]
    while cursor is not None and cursor not in seen:
        if message_of(nodes[cursor]) is not None:
            return cursor
        seen.add(cursor)
        cursor = parent[cursor]
    return None
