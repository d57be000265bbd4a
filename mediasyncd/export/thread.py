"""From a conversation's message tree to what a page shows, in order (pure functions).

The current branch (the thread ChatGPT shows) is the page; every other branch (an edited
prompt, a regenerated answer) hangs where it forks off, as a collapsible block, so
nothing the export holds is hidden but the thread still reads top to bottom. The result
is a flat list of items (open branch, message, close branch) so templates never recurse
and a hostile, very deep tree cannot exhaust the stack. Nesting stops at MAX_DEPTH: deeper
forks are listed inline in tree order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from mediasyncd.conversations.text import message_texts
from mediasyncd.export.model import MediaFile, MissingRef
from mediasyncd.index import Index
from mediasyncd.index import export as export_db
from mediasyncd.store import Store

MAX_DEPTH: Final = 12


@dataclass
class Message:
    id: str
    parent_id: str | None
    role: str | None
    author_name: str | None
    recipient: str | None
    content_type: str | None
    create_time: float | None
    on_current_branch: bool
    position: int
    text: str
    files: list[MediaFile] = field(default_factory=list)
    missing: list[MissingRef] = field(default_factory=list)
    # Files already shown by the message just before (a generated image is linked to the
    # tool message and to the assistant reply): listed by name only, not shown twice.
    repeated: list[MediaFile] = field(default_factory=list)

    @property
    def visible(self) -> bool:
        return bool(self.text.strip() or self.files or self.missing or self.repeated)


@dataclass(frozen=True)
class Item:
    kind: Literal["message", "open", "close"]
    message: Message | None = None
    # For "open": how many visible messages the branch holds.
    count: int = 0
    depth: int = 0


def load_messages(index: Index, store: Store, conversation_id: str) -> list[Message]:
    """The conversation's messages; their text comes from its document in the store."""
    texts = message_texts(index, store, conversation_id)
    return [
        Message(
            id=str(r[0]),
            parent_id=r[1],
            role=r[2],
            author_name=r[3],
            recipient=r[4],
            content_type=r[5],
            create_time=float(r[6]) if isinstance(r[6], int | float) else None,
            on_current_branch=bool(r[7]),
            position=int(r[8]),
            text=texts.get(str(r[0]), ""),
        )
        for r in export_db.messages_of(index, conversation_id)
    ]


def attach_media(
    messages: Sequence[Message], files: Sequence[MediaFile], missing: Sequence[MissingRef]
) -> tuple[list[MediaFile], list[MissingRef]]:
    """Give each message its files and missing references; returns what is left for the
    conversation as a whole (conversation-level links, unknown messages)."""
    by_id = {m.id: m for m in messages}
    loose_files: list[MediaFile] = []
    for media in files:
        placed = False
        for message_id in dict.fromkeys(link.message_id for link in media.links):
            if message_id is not None and message_id in by_id:
                by_id[message_id].files.append(media)
                placed = True
        if not placed:
            loose_files.append(media)
    loose_missing: list[MissingRef] = []
    for ref in missing:
        if ref.message_id is not None and ref.message_id in by_id:
            by_id[ref.message_id].missing.append(ref)
        else:
            loose_missing.append(ref)
    return loose_files, loose_missing


def layout(messages: Sequence[Message]) -> list[Item]:
    """The display order: the current branch with every other branch where it forks."""
    by_id = {m.id: m for m in messages}
    children: dict[str | None, list[Message]] = {}
    for message in messages:
        parent = message.parent_id if message.parent_id in by_id else None
        children.setdefault(parent, []).append(message)
    for kids in children.values():
        kids.sort(key=lambda m: (m.position, m.id))

    visible_count = _subtree_counts(messages, children)
    main = [m for m in messages if m.on_current_branch]
    main.sort(key=lambda m: (m.position, m.id))
    if not main:
        main = _default_chain(children)
    on_main = {m.id for m in main}

    items: list[Item] = []
    emitted: set[str] = set()

    def branch(root: Message, depth: int) -> None:
        _emit_branch(root, depth, children, visible_count, on_main, emitted, items)

    for message in main:
        if message.id in emitted:
            continue
        emitted.add(message.id)
        items.append(Item("message", message))
        for child in children.get(message.id, []):
            if child.id not in on_main:
                branch(child, 1)
    for root in children.get(None, []):
        if root.id not in on_main and root.id not in emitted:
            branch(root, 1)
    # Whatever is left sits in a parent cycle that no root reaches: still shown.
    rest = [m for m in messages if m.id not in emitted]
    if any(m.visible for m in rest):
        items.append(Item("open", count=sum(1 for m in rest if m.visible), depth=1))
        for message in rest:
            emitted.add(message.id)
            items.append(Item("message", message, depth=1))
        items.append(Item("close", depth=1))
    return items


def _default_chain(children: dict[str | None, list[Message]]) -> list[Message]:
    """With no current node: from the first root, follow the latest child each time."""
    roots = children.get(None, [])
    if not roots:
        return []
    chain: list[Message] = []
    seen: set[str] = set()
    cursor: Message | None = roots[0]
    while cursor is not None and cursor.id not in seen:
        seen.add(cursor.id)
        chain.append(cursor)
        kids = children.get(cursor.id, [])
        cursor = kids[-1] if kids else None
    return chain


def _subtree_counts(
    messages: Sequence[Message], children: dict[str | None, list[Message]]
) -> dict[str, int]:
    """Visible messages in each message's subtree, iteratively (post-order)."""
    counts: dict[str, int] = {}
    state: dict[str, int] = {}
    for start in messages:
        if start.id in state:
            continue
        stack = [start]
        while stack:
            node = stack[-1]
            if state.get(node.id) is None:
                state[node.id] = 1
                stack.extend(k for k in children.get(node.id, []) if k.id not in state)
                continue
            stack.pop()
            if node.id in counts:
                continue
            counts[node.id] = int(node.visible) + sum(
                counts.get(k.id, 0) for k in children.get(node.id, []) if k.id != node.id
            )
    return counts


_Action = tuple[str, "Message | None", int]


def _emit_branch(
    root: Message,
    depth: int,
    children: dict[str | None, list[Message]],
    counts: dict[str, int],
    on_main: set[str],
    emitted: set[str],
    items: list[Item],
) -> None:
    # An explicit stack of pending actions, pushed in reverse so they pop in page order.
    stack: list[_Action] = [("branch", root, depth)]
    while stack:
        action, node, level = stack.pop()
        if action == "close":
            items.append(Item("close", depth=level))
            continue
        if action == "message":
            assert node is not None
            items.append(Item("message", node, depth=level))
            continue
        assert node is not None
        if node.id in emitted or counts.get(node.id, 0) == 0:
            _mark(node, children, emitted)
            continue
        if level > MAX_DEPTH:
            for message in _tree_order(node, children, emitted):
                items.append(Item("message", message, depth=MAX_DEPTH))
            continue
        chain = _first_child_chain(node, children, emitted, on_main)
        in_chain = {m.id for m in chain}
        items.append(Item("open", count=counts.get(node.id, 0), depth=level))
        stack.append(("close", None, level))
        for message in reversed(chain):
            forks = [
                k
                for k in children.get(message.id, [])
                if k.id not in in_chain and k.id not in on_main and k.id not in emitted
            ]
            for fork in reversed(forks):
                stack.append(("branch", fork, level + 1))
            stack.append(("message", message, level))


def _first_child_chain(
    node: Message,
    children: dict[str | None, list[Message]],
    emitted: set[str],
    on_main: set[str],
) -> list[Message]:
    chain: list[Message] = []
    cursor: Message | None = node
    while cursor is not None and cursor.id not in emitted and cursor.id not in on_main:
        emitted.add(cursor.id)
        chain.append(cursor)
        kids = [k for k in children.get(cursor.id, []) if k.id not in emitted]
        cursor = kids[0] if kids else None
    return chain


def _tree_order(
    node: Message, children: dict[str | None, list[Message]], emitted: set[str]
) -> list[Message]:
    out: list[Message] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.id in emitted:
            continue
        emitted.add(current.id)
        out.append(current)
        stack.extend(reversed(children.get(current.id, [])))
    return out


def _mark(node: Message, children: dict[str | None, list[Message]], emitted: set[str]) -> None:
    """A branch with nothing visible in it is skipped, but counts as shown."""
    _tree_order(node, children, emitted)


def dedupe_adjacent(items: Sequence[Item], same: Callable[[MediaFile], str]) -> None:
    """A file shown by a message is only named, not shown again, by the next message at the
    same level (the producing tool message and the assistant reply after it)."""
    previous: set[str] = set()
    previous_depth = -1
    for item in items:
        if item.kind != "message" or item.message is None:
            previous, previous_depth = set(), -1
            continue
        message = item.message
        shown: list[MediaFile] = []
        for media in message.files:
            if item.depth == previous_depth and same(media) in previous:
                message.repeated.append(media)
            else:
                shown.append(media)
        message.files = shown
        if message.visible:
            previous = {same(m) for m in message.files} | {same(m) for m in message.repeated}
            previous_depth = item.depth
