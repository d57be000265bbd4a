"""Reading loosely typed JSON values: exports and traces write numbers as numbers or text."""

from __future__ import annotations

from typing import Any


def as_float(value: Any) -> float | None:
    """A number given as a number or as numeric text; booleans and anything else are None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
