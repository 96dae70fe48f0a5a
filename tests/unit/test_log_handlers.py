"""A log destination that fails is named once and then left alone; a record that cannot be formatted is not
blamed on the destination."""

import errno
import logging

from _s3napback.cli import ReportsFailureOnce


class Failing(ReportsFailureOnce):
    where = "LogFile /var/log/full.log"

    def __init__(self, error):
        super().__init__()
        self.error = error
        self.attempts = 0

    def emit(self, record):
        self.attempts += 1
        try:
            raise self.error
        except Exception:  # noqa: BLE001 - as logging's own handlers do
            self.handleError(record)


def record(message="a line"):
    return logging.LogRecord("s3napback", logging.INFO, __file__, 1, message, None, None)


def test_a_failing_destination_is_named_once_then_skipped(caplog):
    handler = Failing(OSError(errno.ENOSPC, "No space left on device"))
    with caplog.at_level(logging.WARNING, logger="s3napback"):
        for line in ("first", "second", "third"):
            if record(line).levelno >= handler.level:  # what Logger.callHandlers checks
                handler.handle(record(line))
    assert handler.attempts == 1
    assert [r.getMessage() for r in caplog.records] == [
        "LogFile /var/log/full.log: cannot write to it (No space left on device); the rest of this run is not "
        "logged there"
    ]
    handler.level = logging.NOTSET  # a line from another thread, already past the level check when this failed
    handler.handle(record())
    assert handler.attempts == 2 and len(caplog.records) == 1  # it failed too, and said nothing more


def test_a_record_that_cannot_be_formatted_keeps_the_destination(caplog, monkeypatch):
    monkeypatch.setattr(logging, "raiseExceptions", False)  # logging's default report, silenced for the test
    handler = Failing(TypeError("not all arguments converted during string formatting"))
    with caplog.at_level(logging.WARNING, logger="s3napback"):
        handler.handle(record())
    assert handler.level == logging.NOTSET and not handler.failed
    assert caplog.records == []
