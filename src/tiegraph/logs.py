"""One logging setup for the worker, the API, import and sync.

JSON lines when stderr is not a terminal (a log shipper reads them), readable text when it is.
Every line carries `tenant` and `mailbox`: set them once with `log_context(...)` where they are
known (an import, a sync of one mailbox, a request) and every logger below picks them up.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

_tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tiegraph_tenant", default="")
_mailbox: contextvars.ContextVar[str] = contextvars.ContextVar("tiegraph_mailbox", default="")

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged as a field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


@contextmanager
def log_context(tenant: str = "", mailbox: str = "") -> Iterator[None]:
    """Tag every log line written inside the block with this tenant and mailbox."""
    tokens = (_tenant.set(tenant), _mailbox.set(mailbox))
    try:
        yield
    finally:
        _tenant.reset(tokens[0])
        _mailbox.reset(tokens[1])


def bind_log_context(tenant: str = "", mailbox: str = "") -> None:
    """Tag the rest of the current task's lines (a request: its context ends with it)."""
    if tenant:
        _tenant.set(tenant)
    if mailbox:
        _mailbox.set(mailbox)


class ContextFilter(logging.Filter):
    """Copies the current tenant and mailbox onto the record (an explicit `extra=` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "tenant", ""):
            record.tenant = _tenant.get()
        if not getattr(record, "mailbox", ""):
            record.mailbox = _mailbox.get()
        return True


class RepeatFilter(logging.Filter):
    """Lets one record per logger and message template through every `window_s` and notes how
    many were held back. aiokafka logs every failed reconnect at error level: a broker restart
    of ten seconds wrote ~167,000 lines from one worker before this filter."""

    def __init__(self, prefixes: tuple[str, ...] = ("aiokafka",), window_s: float = 10.0) -> None:
        super().__init__()
        self.prefixes, self.window_s = prefixes, window_s
        self._last: dict[tuple[str, str], tuple[float, int]] = {}  # (logger, template) -> (shown at, held)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefixes):
            return True
        key = (record.name, str(record.msg))
        shown_at, held = self._last.get(key, (0.0, 0))
        if record.created - shown_at < self.window_s:
            self._last[key] = (shown_at, held + 1)
            return False
        if len(self._last) > 1000:  # templates are few; this only bounds memory against surprises
            self._last.clear()
        self._last[key] = (record.created, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last {self.window_s:.0f}s)"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, tenant, mailbox and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "tenant": getattr(record, "tenant", ""),
            "mailbox": getattr(record, "mailbox", ""),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in doc:
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(tenant)s %(mailbox)s] %(message)s"


def setup_logging(
    level: int | str = logging.INFO, stream: TextIO | None = None, json_lines: bool | None = None
) -> None:
    """Configure the root logger once per process; `json_lines` defaults to "stderr is not a TTY"."""
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not stream.isatty()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RepeatFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
