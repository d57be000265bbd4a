"""The display order of a message tree: current branch, other branches where they fork."""

from __future__ import annotations

from mediasyncd.export.model import Link, MediaFile
from mediasyncd.export.thread import MAX_DEPTH, Item, Message, dedupe_adjacent, layout


def msg(
    mid: str, parent: str | None, position: int, *, main: bool = True, text: str = "t"
) -> Message:
    return Message(
        id=mid,
        parent_id=parent,
        role="user",
        author_name=None,
        recipient=None,
        content_type="text",
        create_time=None,
        on_current_branch=main,
        position=position,
        text=text,
    )


def shape(items: list[Item]) -> list[str]:
    out = []
    for item in items:
        if item.kind == "message":
            assert item.message is not None
            out.append(item.message.id)
        else:
            out.append(f"{item.kind}{item.depth}")
    return out


def test_current_branch_with_a_regenerated_answer_folded_where_it_forks() -> None:
    """The alternative answer is shown after the prompt it answers, inside a branch."""
    messages = [
        msg("q", None, 0),
        msg("old", "q", 1, main=False),
        msg("old2", "old", 2, main=False),
        msg("new", "q", 3),
        msg("next", "new", 4),
    ]
    items = layout(messages)
    assert shape(items) == ["q", "open1", "old", "old2", "close1", "new", "next"]
    assert items[1].count == 2


def test_nested_forks_nest() -> None:
    """A fork inside a branch is a branch inside the branch."""
    messages = [
        msg("q", None, 0),
        msg("b1", "q", 1, main=False),
        msg("b1a", "b1", 2, main=False),
        msg("b1b", "b1", 3, main=False),
        msg("a", "q", 4),
    ]
    assert shape(layout(messages)) == [
        "q",
        "open1",
        "b1",
        "open2",
        "b1b",
        "close2",
        "b1a",
        "close1",
        "a",
    ]


def test_without_a_current_node_the_latest_children_are_followed() -> None:
    """No message on the current branch: the chain of latest children is the thread."""
    messages = [
        msg("r", None, 0, main=False),
        msg("x", "r", 1, main=False),
        msg("y", "r", 2, main=False),
    ]
    assert shape(layout(messages)) == ["r", "open1", "x", "close1", "y"]


def test_hidden_messages_make_no_branch_and_every_message_appears_once() -> None:
    """An empty system root is skipped; a branch of only empty messages is not offered."""
    messages = [
        msg("sys", None, 0, text=""),
        msg("u", "sys", 1),
        msg("empty", "u", 2, main=False, text=""),
        msg("a", "u", 3),
    ]
    items = layout(messages)
    assert shape(items) == ["sys", "u", "a"]


def test_parent_cycles_and_orphans_are_still_shown() -> None:
    """Messages in a parent cycle no root reaches are listed at the end, once each."""
    messages = [
        msg("a", None, 0),
        msg("c1", "c2", 1, main=False),
        msg("c2", "c1", 2, main=False),
    ]
    ids = [i.message.id for i in layout(messages) if i.message is not None]
    assert sorted(ids) == ["a", "c1", "c2"]


def test_a_very_deep_tree_does_not_recurse_and_nesting_is_capped() -> None:
    """5,000 nested forks: no recursion error, depth never above MAX_DEPTH."""
    messages = [msg("root", None, 0), msg("main", "root", 1)]
    parent = "root"
    for i in range(5000):
        messages.append(msg(f"f{i}", parent, 2 + 2 * i, main=False))
        messages.append(msg(f"g{i}", f"f{i}", 3 + 2 * i, main=False))
        parent = f"f{i}"
    items = layout(messages)
    ids = [i.message.id for i in items if i.message is not None]
    assert len(ids) == len(set(ids)) == len(messages)
    assert max(i.depth for i in items) <= MAX_DEPTH
    opens = sum(1 for i in items if i.kind == "open")
    assert opens == sum(1 for i in items if i.kind == "close")


def test_a_generated_file_is_shown_once_then_named() -> None:
    """Tool message and assistant reply share a generated image: shown once, then named."""
    media = MediaFile("d" * 32, "x.png", "image", "image/png", 10, [Link("t", "s", "generated", 1)])
    tool, reply = msg("t", None, 0, text=""), msg("r", "t", 1)
    tool.files, reply.files = [media], [media]
    items = layout([tool, reply])
    dedupe_adjacent(items, lambda m: m.digest)
    assert tool.files == [media] and reply.files == [] and reply.repeated == [media]
