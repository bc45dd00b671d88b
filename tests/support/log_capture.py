"""The `every_log_line` fixture: every log record of every logger at DEBUG, with Django's SQL logging
on (DEBUG=True logs each statement with its parameters, the likeliest leak of a secret). A pytest
plugin, registered once in tests/conftest.py."""

import logging
from collections.abc import Iterator
from typing import Any

import pytest


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name}: {text} {record.args!r} {record.__dict__!r}")


@pytest.fixture
def every_log_line(settings: Any) -> Iterator[Collect]:
    settings.DEBUG = True
    handler = Collect()
    loggers = [
        logging.getLogger(),
        *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict)),
    ]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
        lg.addHandler(handler)
    try:
        yield handler
    finally:
        for lg, level, disabled in saved:
            lg.setLevel(level)
            lg.disabled = disabled
            lg.removeHandler(handler)
