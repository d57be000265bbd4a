"""File names as text for the index: lossless, and readable where they are shown.

Linux names are bytes; Python hands back the ones that are not UTF-8 with surrogate
escapes, which SQLite (and a UTF-8 terminal) refuse: a drop named `top\\xff.png` used to
fail the daemon's reconcile and an image dump's whole ingest. The text form keeps every
name that is valid UTF-8 and holds no backslash as it is; otherwise each byte that is not
UTF-8 becomes `\\xNN` and each backslash `\\\\`. The mapping is one-to-one, so
`path_from_text` gives the exact name back (the worker opens a queued drop by it) and two
names never share a text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4})")
_SURROGATES = range(0xD800, 0xE000)
_ESCAPED_BYTES = range(0xDC80, 0xDD00)  # what surrogateescape makes of bytes 0x80-0xff


def path_text(path: str | os.PathLike[str]) -> str:
    """The text stored (and shown) for a path or name."""
    text = os.fspath(path)
    if "\\" not in text:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            pass
        else:
            return text
    out: list[str] = []
    for char in text:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif code in _ESCAPED_BYTES:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code in _SURROGATES:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def _unescape(match: re.Match[str]) -> str:
    found = match.group(1)
    if found == "\\":
        return "\\"
    if found[0] == "x":
        return chr(0xDC00 + int(found[1:], 16))
    return chr(int(found[1:], 16))


def name_from_text(text: str) -> str:
    """The name (str with surrogate escapes, as `os` gives it) a text stands for."""
    return _ESCAPE.sub(_unescape, text) if "\\" in text else text


def path_from_text(text: str) -> Path:
    """The path a stored text stands for: `path_from_text(path_text(p)) == p`."""
    return Path(name_from_text(text))
