"""Which superseded document versions gc may drop (`gc.keep_document_versions`).

Each monthly export repeats last month's conversations, and each is kept as a recipe of
per-conversation objects (mediasyncd.store.documents), so an old conversations.json
costs only its recipe and the old versions of the conversations that changed since. The
policy says how many of the newest sources' documents are kept whatever happens:
- "all" (the default): every document, nothing dropped;
- N: the recipes of the N newest sources that carried any, and every older recipe
  that holds a conversation no newer kept recipe holds;
- "latest": N = 1.
A dropped recipe leaves a tombstone (`.s`), so `verify` and `reindex` know it went on
purpose; the conversation objects only it named are then unreferenced, and go like any
other unreferenced object (after the grace period).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mediasyncd.index import Index, objects
from mediasyncd.store.base import Store


@dataclass
class _Source:
    recipes: dict[str, set[str | None]] = field(default_factory=dict)


def keep_count(policy: str | int) -> int | None:
    """How many newest sources' documents are always kept; None: all of them."""
    if policy == "all":
        return None
    if policy == "latest":
        return 1
    return int(policy)


def superseded_recipes(index: Index, keep: int) -> list[str]:
    """The recipes the policy drops, oldest last."""
    sources: dict[int, _Source] = {}
    for source, recipe, conversation in objects.recipe_versions(index):
        sources.setdefault(source, _Source()).recipes.setdefault(recipe, set()).add(conversation)
    covered: set[str | None] = set()
    doomed: list[str] = []
    for rank, entry in enumerate(sources.values()):
        kept: set[str | None] = set()
        for recipe, conversations in entry.recipes.items():
            # A part that is not a known conversation is never covered (None).
            if rank < keep or None in conversations or not conversations <= covered:
                kept |= conversations
            else:
                doomed.append(recipe)
        covered |= kept
    return doomed


def drop_recipes(index: Index, store: Store, recipes: Iterable[str]) -> int:
    """Drop each recipe: tombstone first, then its entries, then the index rows (a crash
    in between is finished by the next gc, which finds the same recipes superseded)."""
    dropped = 0
    for recipe in recipes:
        store.mark_superseded(recipe)
        for location in store.locations(recipe):
            if not location.endswith(".s"):
                store.remove(location)
        with index.write():
            objects.forget_recipe(index, recipe)
        dropped += 1
    return dropped
