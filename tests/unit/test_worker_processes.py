"""The worker's two processes: which consumer group reads which topic, and their supervisor."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator

import pytest

from tiegraph.streams import topics as t
from tiegraph.streams.worker import CONFIGURATION_ERROR, supervise


def test_every_topic_is_read_by_exactly_one_group_of_the_deployment() -> None:
    names = t.TopicNames("acme.")
    groups = t.consumer_groups("tiegraph", names.all())
    assert groups == {
        "tiegraph": names.read_by(writer=False),
        "tiegraph-graph": [names[t.TIE_UPDATES], names[t.COUNTERS], names[t.ALIASES]],
    }
    assert sorted(groups["tiegraph"] + groups["tiegraph-graph"]) == sorted(names.all())
    assert names[t.MAIL_MESSAGES] in groups["tiegraph"] and names[t.DEAD_LETTERS] in groups["tiegraph"]


def test_a_topic_list_of_one_side_asks_only_that_sides_group() -> None:
    names = t.TopicNames()
    assert t.consumer_groups("tg", names.read_by(writer=True)).keys() == {"tg-graph"}
    assert t.consumer_groups("tg", []) == {}


@pytest.fixture
def own_signal_handlers() -> Iterator[None]:
    """`supervise` installs SIGTERM/SIGINT handlers: put pytest's back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_a_process_that_cannot_run_with_its_configuration_stops_the_worker(own_signal_handlers: None) -> None:
    """One process exits with EX_CONFIG (a restart cannot help): the supervisor stops the other
    one too and exits with that code, rather than restarting either in a loop."""
    started = time.monotonic()
    code = supervise(
        {
            "graph": [sys.executable, "-c", "import time; time.sleep(60)"],
            "streams": [sys.executable, "-c", f"import sys, time; time.sleep(0.5); sys.exit({CONFIGURATION_ERROR})"],
        }
    )
    assert code == CONFIGURATION_ERROR
    assert time.monotonic() - started < 30  # the sleeping process was stopped, not waited out
