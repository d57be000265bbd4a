"""The SQLite index: what the store holds, where each object was found, and what it means."""

from mediasyncd.index.connection import Index, open_index

__all__ = ["Index", "open_index"]
