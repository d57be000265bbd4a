"""The store: objects named by their digest, and what keeps it whole.

- `base`: the interface every store implements (`Store`), and what a put returns;
- `local`: `ObjectStore`, objects as read-only files under `<state>/objects/`;
- `digest`, `mediatype`: naming an object, and telling its type from its first bytes;
- `manifest`: each drop's record of what it held, kept as an object;
- `locks`: the locks that keep writers apart (ingest/gc, one writer per source, one
  daemon per state dir);
- `verify` and `gc`: re-hashing the store, and removing what nothing references.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mediasyncd.store.base import ObjectStat, PutResult, SizeLimit, Store, StoredObject
    from mediasyncd.store.local import TEMP_PREFIX, ObjectStore

# Loaded when first asked for (PEP 562): a report that needs only `store.mediatype`
# (through the index) should not import the local store, zstandard and hashlib (~12 ms
# of `status`).
_HOMES = {
    "ObjectStat": "base",
    "PutResult": "base",
    "SizeLimit": "base",
    "Store": "base",
    "StoredObject": "base",
    "TEMP_PREFIX": "local",
    "ObjectStore": "local",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "TEMP_PREFIX",
    "ObjectStat",
    "ObjectStore",
    "PutResult",
    "SizeLimit",
    "Store",
    "StoredObject",
]
