"""What a batch of tie rows writes of its people (graph/neo4j.py people_and_ties): each person once,
as the rows in their order would have left them."""

from __future__ import annotations

from typing import Any

from tiegraph.graph.neo4j import people_and_ties


def _row(a: str, b: str, **sides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"tenant": "acme", "a": a, "b": b, "props": {"interactions": 1}}
    for side in ("a", "b"):
        row.update({f"{side}_name": "", f"{side}_sent": False, f"{side}_internal": False, f"{side}_org": None})
    row.update(sides)
    return row


def test_each_person_once_in_address_order_with_the_last_name_given_and_sent_if_any_row_says_so() -> None:
    rows = [
        _row("hub@acme.com", "zed@x.example", a_name="Hub", a_sent=True, a_internal=True, a_org="acme.com"),
        _row("amy@x.example", "hub@acme.com", b_name="", b_internal=True, b_org="acme.com"),
        _row("hub@acme.com", "bea@x.example", a_name="Hub Person", a_internal=True, a_org="acme.com"),
    ]
    people, _ = people_and_ties(rows)
    assert [p["email"] for p in people] == ["amy@x.example", "bea@x.example", "hub@acme.com", "zed@x.example"]
    hub = people[2]
    assert hub == {
        "tenant": "acme",
        "email": "hub@acme.com",
        "name": "Hub Person",
        "sent": True,
        "internal": True,
        "org": "acme.com",
    }


def test_a_person_never_named_keeps_an_empty_name_and_tenants_stay_apart() -> None:
    rows = [_row("ann@a.example", "bob@b.example"), {**_row("ann@a.example", "bob@b.example"), "tenant": "other"}]
    people, _ = people_and_ties(rows)
    assert [(p["tenant"], p["email"], p["name"]) for p in people] == [
        ("acme", "ann@a.example", ""),
        ("acme", "bob@b.example", ""),
        ("other", "ann@a.example", ""),
        ("other", "bob@b.example", ""),
    ]


def test_the_ties_carry_what_the_statement_reads_and_a_rewrite_has_no_offset() -> None:
    rows = [{**_row("ann@a.example", "bob@b.example"), "offset": 7}, _row("ann@a.example", "cat@c.example")]
    _, ties = people_and_ties(rows)
    assert ties == [
        {"tenant": "acme", "a": "ann@a.example", "b": "bob@b.example", "props": {"interactions": 1}, "offset": 7},
        {"tenant": "acme", "a": "ann@a.example", "b": "cat@c.example", "props": {"interactions": 1}, "offset": None},
    ]


def test_the_last_affiliation_of_a_person_holds() -> None:
    """A tenant's domains can change between two rows' making (the directory refreshed): the
    later row's affiliation is what the graph gets, as it would have row by row."""
    rows = [
        _row("ann@acme.com", "bob@b.example", a_internal=False, a_org="acme.com"),
        _row("ann@acme.com", "cat@c.example", a_internal=True),
    ]
    people, _ = people_and_ties(rows)
    ann = next(p for p in people if p["email"] == "ann@acme.com")
    assert ann["internal"] is True and ann["org"] == "acme.com"  # no organisation in a row keeps the known one
