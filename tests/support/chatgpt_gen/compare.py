"""Comparing what mediasyncd reports (`matches`, `unresolved` records) with the truth."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.support.chatgpt_gen.truth import STRATEGIES, Key, Link, RefKey, Truth, describe_link

FILE_ID_KEY = re.compile(r"^file[-_][0-9A-Za-z]+$")


@dataclass
class Comparison:
    truth: Truth
    actual: dict[Key, dict[str, Any]]
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    missing: list[Link] = field(default_factory=list)
    wrong: list[dict[str, Any]] = field(default_factory=list)  # a link that should not exist
    different: list[tuple[Link, dict[str, Any]]] = field(default_factory=list)
    unresolved_missing: set[RefKey] = field(default_factory=set)  # should be listed, is not
    unresolved_extra: set[RefKey] = field(default_factory=set)  # listed, but resolvable

    @property
    def ok(self) -> bool:
        return not (
            self.duplicates
            or self.missing
            or self.wrong
            or self.different
            or self.unresolved_missing
            or self.unresolved_extra
        )

    def per_strategy(self) -> dict[str, dict[str, int]]:
        """expected / found (same strategy and association) / wrong / unresolved."""
        table = {s: {"expected": 0, "found": 0, "wrong": 0, "unresolved": 0} for s in STRATEGIES}
        for link in self.truth.links.values():
            table[link.strategy]["expected"] += 1
            row = self.actual.get(link.key)
            if row and row["strategy"] == link.strategy and row["association"] == link.association:
                table[link.strategy]["found"] += 1
        blank = {"expected": 0, "found": 0, "wrong": 0, "unresolved": 0}
        for row in [*self.wrong, *(r for _link, r in self.different)]:
            table.setdefault(row["strategy"], dict(blank))["wrong"] += 1
        for strategy in self.truth.unresolved.values():
            table[strategy]["unresolved"] += 1
        return table

    def describe(self, limit: int = 15) -> str:
        lines: list[str] = []

        def section(title: str, items: list[str]) -> None:
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines.extend("  " + item for item in items[:limit])

        places = {d: info.places for d, info in self.truth.digests.items()}
        section("duplicate rows", [describe_link(r) for r in self.duplicates])
        section("missing", [f"{describe_link(k)}  <- {places[k.digest][:2]}" for k in self.missing])
        section(
            "wrong",
            [
                f"{describe_link(r)}  <- {places.get(r['digest'], r.get('path'))}"
                for r in self.wrong
            ],
        )
        section(
            "different",
            [
                f"expected {describe_link(e)}\n     got {describe_link(r)}"
                for e, r in self.different
            ],
        )
        section("unresolved not listed", [str(k) for k in sorted(self.unresolved_missing, key=str)])
        section(
            "listed unresolved but resolvable",
            [str(k) for k in sorted(self.unresolved_extra, key=str)],
        )
        return "\n".join(lines) or "all links and unresolved references as expected"


def compare(
    truth: Truth,
    matches: Iterable[dict[str, Any]],
    unresolved: Iterable[dict[str, Any]] = (),
) -> Comparison:
    """Compare `matches` records (subject conversation) and `unresolved` records."""
    actual: dict[Key, dict[str, Any]] = {}
    result = Comparison(truth, actual)
    for row in matches:
        if row.get("subject", "conversation") != "conversation":
            continue
        key = (row["conversation_id"], row["message_id"], row["digest"])
        if key in actual:
            result.duplicates.append(row)
        actual[key] = row
    for key, link in truth.links.items():
        found = actual.get(key)
        if found is None:
            result.missing.append(link)
            continue
        row = found
        if (
            row["strategy"] != link.strategy
            or row["association"] != link.association
            or abs(float(row["confidence"]) - link.confidence) > 1e-6
        ):
            result.different.append((link, row))
    result.wrong = [row for key, row in actual.items() if key not in truth.links]
    listed = {
        (r["conversation_id"], r["message_id"], r["key"])
        for r in unresolved
        if r.get("subject", "conversation") == "conversation" and FILE_ID_KEY.match(str(r["key"]))
    }
    result.unresolved_missing = set(truth.unresolved) - listed
    result.unresolved_extra = listed - set(truth.unresolved)
    return result
