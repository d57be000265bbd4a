"""The store: objects named by their digest, and what keeps it whole.

- `base`: the interface every store implements (`Store`), and what a put returns;
- `local`: `ObjectStore`, objects as read-only files under `<state>/objects/`;
- `digest`, `mediatype`: naming an object, and telling its type from its first bytes;
- `manifest`: each drop's record of what it held, kept as an object;
- `locks`: the locks that keep writers apart (ingest/gc, one writer per source, one
  daemon per state dir);
- `verify` and `gc`: re-hashing the store, and removing what nothing references.
"""

from mediasyncd.store.base import ObjectStat, PutResult, SizeLimit, Store, StoredObject
from mediasyncd.store.local import TEMP_PREFIX, ObjectStore

__all__ = [
    "TEMP_PREFIX",
    "ObjectStat",
    "ObjectStore",
    "PutResult",
    "SizeLimit",
    "Store",
    "StoredObject",
]
