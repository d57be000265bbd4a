"""Browsable exports: one folder per conversation with its media, HTML or Markdown pages.

- `archive`: `export_archive`, the whole run (and the top-level index page);
- `run`: what one run shares, and placing media;
- `conversations` / `users`: writing conversation folders, and per-user trace pages;
- `plan` / `traces`: which folder and which files each conversation or user gets, with
  a fingerprint;
- `naming`: safe, readable folder and file names;
- `thread`: the message tree as a page shows it (current branch, other branches);
- `media`: reflinks, copies or hard links from the store;
- `html` / `markdown`: the pages;
- `state`: what the last export wrote, atomic writes, the export lock.
"""

from mediasyncd.export.archive import configured_dir, export_archive
from mediasyncd.export.model import ExportError, ExportSummary

__all__ = ["ExportError", "ExportSummary", "configured_dir", "export_archive"]
