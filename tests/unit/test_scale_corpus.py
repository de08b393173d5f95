"""The bench's memory-at-scale mail (bench/scale.py) makes exactly the ties it is asked for."""

from __future__ import annotations

from tiegraph.bench.scale import RECIPIENTS, scale_corpus
from tiegraph.core.interactions import derive_interactions
from tiegraph.core.model import TieModel
from tiegraph.core.records import MailMessage
from tiegraph.streams import topics as t


def test_the_scale_mail_makes_exactly_the_ties_asked_for_some_of_them_twice() -> None:
    corpus = scale_corpus("scale", 3_000, now=1_800_000_000.0)
    pairs: dict[tuple[str, str], int] = {}
    for key, value in corpus:
        message = MailMessage.from_dict(t.decode(value))
        assert key == t.message_key("scale", message.dedupe_key)
        found = derive_interactions(message, TieModel())
        assert len(found) == RECIPIENTS  # nothing taken for noise
        for interaction in found:
            pair = min(interaction.a, interaction.b), max(interaction.a, interaction.b)
            pairs[pair] = pairs.get(pair, 0) + 1
    assert len(pairs) == 3_000  # nobody writes back: each pair is one tie
    assert len(corpus) == 300 + 75 and sum(n == 2 for n in pairs.values()) == 750  # a quarter wrote twice
