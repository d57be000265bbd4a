"""mediasyncd: keep AI-chat archives whole.

Every media file is stored once in a content-addressed store; an incremental index
links it to the conversation, message or trace it belongs to. docs/architecture.md
describes the layout.
"""

__version__ = "0.1.0"
