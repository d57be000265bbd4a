"""Ids a person typed that the index does not know: an error naming the closest ones,
never an empty report or a rematch of nothing that looks like success."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from mediasyncd.cli.common import CliError
from mediasyncd.index import Index, conversations, traces

SUGGESTIONS = 3

_KNOWN: dict[str, Callable[[Index], set[str]]] = {
    "conversation": conversations.conversation_ids,
    "user": traces.user_ids,
}


def check_known(index: Index, kind: str, wanted: Sequence[str]) -> None:
    """Raise (exit 1) when any of `wanted` is not a known conversation or user id."""
    if not wanted:
        return
    known = _KNOWN[kind](index)
    unknown = [value for value in dict.fromkeys(wanted) if value not in known]
    if not unknown:
        return
    first = unknown[0]
    others = f" (and {len(unknown) - 1} more unknown)" if len(unknown) > 1 else ""
    close = closest(first, known)
    if not known:
        hint = f"the index has no {kind}s yet"
    elif close:
        hint = "closest known: " + ", ".join(_label(index, kind, c) for c in close)
    else:
        hint = f"nothing close among {len(known)} known {kind}s"
    raise CliError(f"no {kind} with id {first!r} in the index{others}; {hint}")


def closest(value: str, known: set[str]) -> list[str]:
    """Ids that start with `value` (a shortened id), else the most alike ones."""
    starting = sorted(k for k in known if k.startswith(value))
    if starting:
        return starting[:SUGGESTIONS]
    return difflib.get_close_matches(value, sorted(known), n=SUGGESTIONS, cutoff=0.5)


def _label(index: Index, kind: str, ident: str) -> str:
    if kind != "conversation":
        return ident
    title = conversations.title_of(index, ident)
    return f"{ident} ({title})" if title else ident
