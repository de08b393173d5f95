"""Identity, noise and interaction rules."""

from __future__ import annotations

import pytest

from tiegraph.core.identity import InvalidAddress, affiliation_of, normalize_email, registrable_domain
from tiegraph.core.interactions import derive_interactions
from tiegraph.core.model import TieModel
from tiegraph.core.noise import is_automated, is_bulk_marketing, is_role_address, list_address_of, looks_like_group
from tiegraph.core.records import Address, MailMessage

MODEL = TieModel()


def message(
    sender: str = "ann@acme.example", to: tuple[str, ...] = ("bob@acme.example",), **fields: object
) -> MailMessage:
    base: dict[str, object] = {
        "tenant": "t",
        "mailbox": "",
        "source_id": "s",
        "message_id": "m",
        "sent_at": 1_700_000_000.0,
        "sender": Address(sender),
        "to": tuple(Address(e) for e in to),
        "dedupe_key": "k",
    }
    base.update(fields)
    return MailMessage(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("KLay@ENRON.com", "klay@enron.com"),
        ("<a..bibi@enron.com>", "a.bibi@enron.com"),
        ("'klay@enron.com'", "klay@enron.com"),
        ("mailto:x@y.example", "x@y.example"),
    ],
)
def test_addresses_are_normalised(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw", ["/O=ENRON/OU=NA/CN=RECIPIENTS/CN=JSKILLIN", "undisclosed-recipients:;", "no at sign", "a@b"]
)
def test_unusable_addresses_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidAddress):
        normalize_email(raw)


def test_organisation_is_the_registrable_domain_and_free_mail_is_none() -> None:
    assert registrable_domain("mail.bbc.co.uk") == "bbc.co.uk"
    assert affiliation_of("x@mail.acme.example", ["acme.example"]).internal
    assert affiliation_of("x@gmail.com").organization is None
    assert affiliation_of("x@nc.rr.com").organization == "rr.com"


def test_list_id_gives_the_list_address() -> None:
    assert list_address_of("AppArmor discussion <apparmor.lists.ubuntu.com>") == "apparmor@lists.ubuntu.com"


def test_role_and_automated_senders_are_not_people() -> None:
    assert is_role_address("no-reply@x.example") and is_role_address("mailer-daemon@x.example")
    assert not is_role_address("noreen@x.example")
    assert is_automated(message(auto_submitted="auto-replied"))
    assert derive_interactions(message(sender="notifications@x.example"), MODEL) == []


def test_bulk_marketing_is_dropped_but_a_discussion_list_is_not() -> None:
    assert is_bulk_marketing(message(list_unsubscribe=True))
    assert is_bulk_marketing(message(precedence="bulk"))
    listed = message(
        to=("apparmor@lists.ubuntu.com", "bob@acme.example"), precedence="bulk", list_id="<apparmor.lists.ubuntu.com>"
    )
    assert not is_bulk_marketing(listed)
    assert [(i.a, i.b) for i in derive_interactions(listed, MODEL)] == [("ann@acme.example", "bob@acme.example")]


def test_a_list_that_rewrites_from_keeps_the_author_from_reply_to() -> None:
    rewritten = message(
        sender="apparmor@lists.ubuntu.com",
        to=("bob@acme.example",),
        reply_to=(Address("jane@acme.example"),),
        list_id="<apparmor.lists.ubuntu.com>",
    )
    assert [(i.a, i.b) for i in derive_interactions(rewritten, MODEL)] == [("jane@acme.example", "bob@acme.example")]


def test_reply_outweighs_direct_to_which_outweighs_cc_and_groups_dilute() -> None:
    reply = derive_interactions(message(is_reply=True), MODEL)[0]
    direct = derive_interactions(message(), MODEL)[0]
    cc = derive_interactions(message(to=(), cc=(Address("bob@acme.example"),)), MODEL)[0]
    assert reply.weight > direct.weight > cc.weight
    group = derive_interactions(message(to=tuple(f"p{i}@acme.example" for i in range(40))), MODEL)
    assert len(group) == 40 and group[0].weight == pytest.approx(direct.weight / 40)


def test_broadcasts_and_self_mail_make_no_ties() -> None:
    assert derive_interactions(message(to=tuple(f"p{i}@acme.example" for i in range(101))), MODEL) == []
    assert derive_interactions(message(to=("ann@acme.example",)), MODEL) == []


def test_bcc_counts_only_in_the_senders_own_copy() -> None:
    bcc = (Address("carl@acme.example"),)
    assert len(derive_interactions(message(bcc=bcc, mailbox="bob@acme.example"), MODEL)) == 1
    assert len(derive_interactions(message(bcc=bcc, mailbox="ann@acme.example"), MODEL)) == 2


def test_an_address_in_to_and_cc_counts_once_with_the_stronger_kind() -> None:
    both = message(to=("bob@acme.example",), cc=(Address("bob@acme.example"),))
    assert [i.kind for i in derive_interactions(both, MODEL)] == ["to"]


def test_an_address_that_only_receives_from_many_is_a_group() -> None:
    assert looks_like_group(sends=False, correspondents=12, min_correspondents=10)
    assert not looks_like_group(sends=True, correspondents=500, min_correspondents=10)
    assert not looks_like_group(sends=False, correspondents=3, min_correspondents=10)
