"""The daemon fixtures (a drop folder and real `mediasyncd run` children) for the
reliability tests too."""

from tests.daemon.conftest import drop, make_daemon

__all__ = ["drop", "make_daemon"]
