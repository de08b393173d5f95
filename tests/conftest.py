"""Shared fixtures. The real-stack fixtures live in tests/stack.py and are registered here once,
so the stack starts once per session whichever folders run."""

from tests.dovecot import dovecot  # noqa: F401  (the IMAP server for the connector tests)
from tests.stack import api, graph, stack  # noqa: F401  (pytest fixtures)
