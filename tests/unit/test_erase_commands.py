"""Erase commands and tombstones on the topics (no Kafka needed for their encoding)."""

from __future__ import annotations

from tiegraph.core.records import Interaction
from tiegraph.streams import topics as t
from tiegraph.streams.erase import erase_command, is_erase_command, split_deletions


def test_an_erase_command_is_keyed_by_the_pair_and_recognised() -> None:
    key, value = erase_command("acme", "zed@x.com", "ann@y.com")
    assert key == t.pair_key("acme", "ann@y.com", "zed@x.com")
    assert is_erase_command(value) and t.decode(value) == {
        "erase": True,
        "tenant": "acme",
        "a": "zed@x.com",
        "b": "ann@y.com",
    }
    interaction = Interaction("acme", "ann@y.com", "zed@x.com", "to", 1.0, 0.0, "m1")
    assert not is_erase_command(t.encode(interaction.to_dict())) and not is_erase_command(None)


def test_the_last_record_of_a_key_decides_update_or_deletion() -> None:
    k1, k2 = t.pair_key("acme", "a@x.com", "b@x.com"), t.pair_key("acme", "a@x.com", "c@x.com")
    update = {"tenant": "acme", "a": "a@x.com", "b": "c@x.com", "ref_at": 1.0}
    updates, deletions = split_deletions(
        [(k1, t.encode({"tenant": "acme"}), 1), (k1, None, 2), (k2, None, 3), (k2, t.encode(update), 4)]
    )
    assert deletions == [{"tenant": "acme", "a": "a@x.com", "b": "b@x.com", "offset": 2}]
    assert updates == [{**update, "offset": 4}]
