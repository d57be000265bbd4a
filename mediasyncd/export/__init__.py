"""Browsable exports: one folder per conversation with its media, HTML or Markdown pages.

- `plan`: which folder and which files each conversation gets, with a fingerprint;
- `naming`: safe, readable folder and file names;
- `thread`: the message tree as a page shows it (current branch, other branches);
- `media`: hard links (or copies) from the store;
- `html` / `markdown`: the pages; `traces`: per-user trace-pair pages;
- `state`: what the last export wrote, atomic writes, the export lock;
- `archive`: `export_archive`, the whole run.
"""

from mediasyncd.export.archive import ExportSummary, configured_dir, export_archive
from mediasyncd.export.model import ExportError

__all__ = ["ExportError", "ExportSummary", "configured_dir", "export_archive"]
