"""Crediting the author of the parent when a list reply goes only to the list."""

from __future__ import annotations

from tests.unit.test_rules import message
from tiegraph.core.list_replies import (
    Authored,
    ReplyLink,
    credit_parent_author,
    thread_record_from_dict,
    thread_records,
)
from tiegraph.core.model import TieModel

MODEL = TieModel()
LIST = "<dev.lists.example.org>"
LIST_ADDRESS = "dev@lists.example.org"


def test_a_list_reply_to_the_list_only_credits_the_parents_author() -> None:
    parent = message("ann@a.example", (LIST_ADDRESS,), list_id=LIST, message_id="<p@a>")
    reply = message(
        "bob@b.example", (LIST_ADDRESS,), list_id=LIST, message_id="<r@b>", in_reply_to="<p@a>", is_reply=True
    )
    authored, no_link = thread_records(parent)
    assert authored == Authored("t", "<p@a>", "ann@a.example") and no_link is None
    _, link = thread_records(reply)
    assert link is not None and link.parent_id == "<p@a>" and link.group == 0
    assert authored is not None
    credited = credit_parent_author(link, authored, MODEL)
    assert credited is not None
    assert (credited.a, credited.b, credited.kind, credited.weight) == ("bob@b.example", "ann@a.example", "reply", 1.5)


def test_a_reply_that_already_addresses_the_parents_author_is_not_counted_twice() -> None:
    reply = message(
        "bob@b.example",
        (LIST_ADDRESS, "ann@a.example", "cy@c.example"),
        list_id=LIST,
        message_id="<r@b>",
        in_reply_to="<p@a>",
    )
    _, link = thread_records(reply)
    assert link is not None and link.addressed == ("ann@a.example", "cy@c.example")
    assert credit_parent_author(link, Authored("t", "<p@a>", "ann@a.example"), MODEL) is None
    # Another person's parent is credited, diluted by the people the reply also addressed.
    credited = credit_parent_author(link, Authored("t", "<p@a>", "dan@d.example"), MODEL)
    assert credited is not None and credited.weight == 1.5 / 3


def test_answering_yourself_and_non_list_mail_make_nothing() -> None:
    _, link = thread_records(message("ann@a.example", (LIST_ADDRESS,), list_id=LIST, in_reply_to="<p@a>"))
    assert link is not None
    assert credit_parent_author(link, Authored("t", "<p@a>", "ann@a.example"), MODEL) is None
    assert thread_records(message("ann@a.example", ("bob@b.example",), in_reply_to="<p@a>")) == (None, None)
    automated = message("noreply@a.example", (LIST_ADDRESS,), list_id=LIST, in_reply_to="<p@a>")
    assert thread_records(automated) == (None, None)


def test_the_credited_interaction_has_a_stable_id_so_replays_count_once() -> None:
    _, link = thread_records(message("bob@b.example", (LIST_ADDRESS,), list_id=LIST, in_reply_to="<p@a>"))
    assert link is not None
    parent = Authored("t", "<p@a>", "ann@a.example")
    first, again = credit_parent_author(link, parent, MODEL), credit_parent_author(link, parent, MODEL)
    assert first is not None and again is not None and first.id == again.id


def test_join_records_round_trip_through_their_wire_form() -> None:
    authored = Authored("t", "<p@a>", "ann@a.example", "Ann")
    link = ReplyLink("t", "<p@a>", "bob@b.example", "Bob", 1.0, "k", "h", 1, ("cy@c.example",))
    assert thread_record_from_dict(authored.to_dict()) == authored
    assert thread_record_from_dict(link.to_dict()) == link


def test_blocked_people_never_enter_the_join() -> None:
    reply = message(
        "bob@b.example", (LIST_ADDRESS, "cy@c.example", "dan@blocked.example"), list_id=LIST, in_reply_to="<p@a>"
    )
    _, link = thread_records(reply, frozenset({"blocked.example"}))
    assert link is not None and link.addressed == ("cy@c.example",)
    assert thread_records(reply, frozenset({"bob@b.example"})) == (None, None)
