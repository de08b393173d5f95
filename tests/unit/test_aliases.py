"""A mailbox owner's aliases from its sent mail: names that name the owner, never delegates."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.conftest import shared_file
from tiegraph.core.aliases import (
    Alias,
    SentMail,
    is_sent_folder,
    learn_aliases,
    merge_ties,
    name_words,
    same_name,
)
from tiegraph.core.model import DAY, TieModel
from tiegraph.core.records import Address, Interaction, MailMessage
from tiegraph.core.ties import Tie, apply_interaction, score_tie
from tiegraph.ingest.files import iter_path
from tiegraph.ingest.headers import MalformedMessage, parse_message

MODEL = TieModel()
T0 = 1_000_000_000.0


def sent(owner: str, sender: str, name: str, folder: str = "Sent Items") -> MailMessage:
    return MailMessage(
        tenant="t",
        mailbox=owner,
        source_id="x",
        message_id="",
        sent_at=T0,
        sender=Address(sender, name),
        folder=folder,
    )


def aliases_of(owner: str, messages: list[MailMessage]) -> list[str]:
    mail = SentMail("t", owner)
    for message in messages:
        mail.note(message)
    return [a.alias for a in mail.aliases()]


@pytest.mark.parametrize(
    "folder", ["Sent", "Sent Items", "[Gmail]/Sent Mail", "INBOX.Sent Messages", "_sent_mail", "'sent mail", "SENT"]
)
def test_sent_folders_are_recognised(folder: str) -> None:
    assert is_sent_folder(folder)


@pytest.mark.parametrize("folder", ["INBOX", "sent_to_legal", "Consent", "all_documents", "discussion_threads", ""])
def test_other_folders_are_not_sent_folders(folder: str) -> None:
    assert not is_sent_folder(folder)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("Skilling, Jeff", ("jeff", "skilling")),
        ("Lay, Kenneth </O=ENRON/OU=NA/CN=RECIPIENTS/CN=KLAY>", ("kenneth", "lay")),
        ("Jeff Skilling@ENRON", ("jeff", "skilling")),
        ('"Dr. Jeffrey K. Skilling"', ("jeffrey", "k", "skilling")),
    ],
)
def test_display_names_read_first_to_last(raw: str, words: tuple[str, ...]) -> None:
    assert name_words(raw) == words


def test_nicknames_initials_and_middle_names_are_the_same_name() -> None:
    assert same_name(("jeff", "skilling"), ("jeffrey", "k", "skilling"))
    assert same_name(("ken", "lay"), ("kenneth", "lay"))
    assert same_name(("j", "skilling"), ("jeff", "skilling"))
    assert not same_name(("tom", "skilling"), ("jeff", "skilling"))  # a brother is not an alias
    assert not same_name(("ken", "lay", "and", "jeff", "skilling"), ("jeff", "skilling"))  # a joint sender
    assert not same_name(("skilling",), ("jeff", "skilling"))  # a surname alone says too little


def test_an_address_named_as_the_owner_in_the_sent_folder_is_an_alias() -> None:
    owner = "jeff.skilling@enron.com"
    found = aliases_of(
        owner,
        [
            sent(owner, owner, "Jeff Skilling"),
            sent(owner, "jskilling@gmail.com", "Skilling, Jeff"),
            sent(owner, "ceo@enron.com", "Jeffrey Skilling"),
        ],
    )
    assert found == ["ceo@enron.com", "jskilling@gmail.com"]


def test_a_delegate_is_never_an_alias_however_much_she_sends() -> None:
    owner = "kenneth.lay@enron.com"
    messages = [sent(owner, "rosalee.fleming@enron.com", "Rosalee Fleming") for _ in range(251)]
    messages += [sent(owner, owner, "Kenneth Lay"), sent(owner, "tori.wells@enron.com", "Tori L Wells")]
    assert aliases_of(owner, messages) == []


def test_relatives_and_joint_senders_are_not_aliases() -> None:
    owner = "jeff.skilling@enron.com"
    messages = [
        sent(owner, owner, "Jeff Skilling"),
        sent(owner, "skilling@enron.com", "Skilling, Tom"),
        sent(owner, "ken.skilling@enron.com", "Ken Lay and Jeff Skilling"),
        sent(owner, "markskilling@hotmail.com", "Mark Skilling"),
    ]
    assert aliases_of(owner, messages) == []


def test_only_the_owners_sent_folders_teach_aliases() -> None:
    owner = "jeff.skilling@enron.com"
    inbox = sent(owner, "jeff@skilling.example", "Jeff Skilling", folder="INBOX")
    other_mailbox = sent("someone@enron.com", "jeff@skilling.example", "Jeff Skilling")
    assert aliases_of(owner, [inbox, other_mailbox]) == []


def test_free_mail_alias_without_a_display_name_is_known_by_its_first_last_local_part() -> None:
    owner = "jeff.skilling@enron.com"
    assert aliases_of(owner, [sent(owner, "jeff.skilling@yahoo.com", "")]) == ["jeff.skilling@yahoo.com"]
    assert aliases_of(owner, [sent(owner, "js1953@yahoo.com", "")]) == []  # nothing names anyone


def test_owner_known_only_by_the_names_on_their_own_address() -> None:
    owner = "ceo@acme.example"  # the address names nobody
    assert aliases_of(owner, [sent(owner, "grace@home.example", "Grace Hopper")]) == []  # name unknown: no aliases
    found = aliases_of(
        owner, [sent(owner, owner, "Hopper, Grace"), sent(owner, "grace@home.example", "Grace M. Hopper")]
    )
    assert found == ["grace@home.example"]


def test_odd_display_names_do_not_name_anyone() -> None:
    owner = "jeff.skilling@enron.com"
    messages = [
        sent(owner, owner, "Jeff Skilling"),
        sent(owner, "a@enron.com", "'Jeff.Skilling@enron.com'"),  # an address as a name: cut at "@"
        sent(owner, "b@enron.com", "/O=ENRON/OU=NA/CN=RECIPIENTS/CN=JSKILLIN"),
        sent(owner, "c@enron.com", "Office of the Chairman"),
        sent(owner, "d@enron.com", "=?utf-8?q?Jeff?="),
    ]
    assert aliases_of(owner, messages) == []


def test_alias_records_round_trip() -> None:
    alias = Alias("t", "jeff@home.example", "jeff.skilling@enron.com", "Jeff Skilling", 3)
    assert Alias.from_dict(alias.to_dict()) == alias


def test_learned_aliases_carry_their_evidence() -> None:
    owner = "jeff.skilling@enron.com"
    senders = {owner: {"Jeff Skilling": 5}, "jeff@home.example": {"Jeff": 1, "Jeff Skilling": 2, "Skilling, Jeff": 2}}
    (alias,) = learn_aliases("t", owner, senders)
    assert (alias.alias, alias.owner, alias.messages) == ("jeff@home.example", owner, 4)
    assert alias.name in ("Jeff Skilling", "Skilling, Jeff")


def _tie(x: str, y: str, events: list[tuple[str, str, float]]) -> Tie:
    tie = Tie.for_pair("t", x, y)
    for n, (a, b, at) in enumerate(events):
        apply_interaction(tie, Interaction("t", a, b, "to", 1.0, at, f"m{n}"), MODEL)
    return tie


@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.floats(0, 400 * DAY)), min_size=1, max_size=12))
def test_merged_tie_scores_like_one_address_had_all_the_mail(events: list[tuple[bool, bool, float]]) -> None:
    """Decayed sums are additive: folding alias ties equals one tie that received every message."""
    one, by_address = [], {"jeff@a.example": [], "jeff@b.example": []}
    for outgoing, first, dt in events:
        address = "jeff@a.example" if first else "jeff@b.example"
        a, b = (address, "zed@c.example") if outgoing else ("zed@c.example", address)
        by_address[address].append((a, b, T0 + dt))
        whole_pair = ("jeff@a.example", "zed@c.example") if outgoing else ("zed@c.example", "jeff@a.example")
        one.append((*whole_pair, T0 + dt))
    parts = [_tie(addr, "zed@c.example", evs) for addr, evs in by_address.items() if evs]
    merged = merge_ties("t", "jeff@a.example", "zed@c.example", parts, MODEL, by_address.keys())
    whole = _tie("jeff@a.example", "zed@c.example", one)
    now = T0 + 500 * DAY
    assert score_tie(merged, now, MODEL).strength == pytest.approx(score_tie(whole, now, MODEL).strength)
    assert merged.messages("ab") == whole.messages("ab") and merged.messages("ba") == whole.messages("ba")
    assert (merged.first_at, merged.last_at) == (whole.first_at, whole.last_at)


def _sent_mail_of(mailbox: str, owner: str) -> SentMail:
    mail = SentMail("t", owner)
    for item in iter_path(shared_file("enron", mailbox)):
        with contextlib.suppress(MalformedMessage):
            mail.note(parse_message(item.header, tenant="t", mailbox=owner, folder=item.folder))
    return mail


def test_enron_lay_sent_folders_hold_his_delegates_and_no_alias() -> None:
    """Measured on the real mailbox: 540 sent messages, 497 From his assistant, 28 from another, 15 his own."""
    mail = _sent_mail_of("lay-k", "kenneth.lay@enron.com")
    sent_by = {address: sum(names.values()) for address, names in mail.senders.items()}
    assert sent_by["rosalee.fleming@enron.com"] > sent_by["kenneth.lay@enron.com"]
    assert "tori.wells@enron.com" in sent_by
    assert mail.aliases() == []


def test_enron_skilling_sent_folders_hold_his_assistants_and_no_alias() -> None:
    mail = _sent_mail_of("skilling-j", "jeff.skilling@enron.com")
    assert {"sherri.sera@enron.com", "joannie.williamson@enron.com"} <= mail.senders.keys()
    # Enron's From headers carry no display names (those are in X-From): the owner's name comes
    # from the first.last address, and the assistants' addresses name them, not him.
    assert mail.senders["jeff.skilling@enron.com"].keys() == {""}
    assert mail.aliases() == []
