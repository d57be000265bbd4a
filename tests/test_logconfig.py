"""The program's loggers: they follow the setup made after they were created, drop
everything when logging is off, and then never import structlog (a CLI command without
-v must not pay for it: 70-100 ms of its start)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from mediasyncd.logconfig import configure_logging, get_logger


def test_a_logger_made_before_the_setup_writes_where_the_setup_says() -> None:
    log = get_logger("mediasyncd.test")  # as a module does at import time
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    log.bind(source="a.zip").info("source.done", stored=3)
    log.debug("not.shown")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["event"], e["source"], e["stored"], e["level"]) for e in lines] == [
        ("source.done", "a.zip", 3, "info")
    ]


def test_off_drops_every_event_and_logging_comes_back_when_turned_on() -> None:
    log = get_logger("mediasyncd.test")
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    configure_logging("off", "json", stream=stream)
    bound = log.bind(source="a.zip")
    for method in (bound.info, bound.warning, bound.error, log.exception, log.critical):
        assert method("dropped") is None
    assert stream.getvalue() == ""
    configure_logging("warning", "json", stream=stream)
    log.warning("back")
    assert json.loads(stream.getvalue())["event"] == "back"


def test_with_logging_off_structlog_is_never_imported() -> None:
    program = (
        "import sys\n"
        "from mediasyncd.logconfig import configure_logging, get_logger\n"
        "import mediasyncd.ingest.pipeline\n"
        "configure_logging('off')\n"
        "get_logger('x').bind(a=1).info('e')\n"
        "print('structlog' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False", done.stderr
