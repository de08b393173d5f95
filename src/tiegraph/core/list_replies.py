"""Crediting the author of the message a list reply answers.

On a discussion list many replies go only to the list address: "Re: your patch" sent To the list
is still an answer to one person, the parent's author, who appears in no header of the reply. The
parent may have arrived long before, or after (copies arrive out of order), and on another
partition, so this is a join on the parent's Message-ID: list messages announce their author
(`Authored`), list replies ask for their parent's author (`ReplyLink`), and whichever arrives
second completes the pair into one reply interaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

from tiegraph.core.blocklist import is_blocked
from tiegraph.core.interactions import effective_sender, person_recipients
from tiegraph.core.model import TieModel
from tiegraph.core.noise import is_automated, is_bulk_marketing, non_person_addresses
from tiegraph.core.records import Interaction, MailMessage

MAX_PENDING_PER_PARENT = 200  # replies waiting for one parent; more are a thread bomb, not conversation


@dataclass(frozen=True, slots=True)
class Authored:
    """A list message's Message-ID and the person who wrote it."""

    tenant: str
    message_id: str
    author: str
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "authored", **asdict(self)}


@dataclass(frozen=True, slots=True)
class ReplyLink:
    """A list reply that names its parent and does not address the parent's author directly."""

    tenant: str
    parent_id: str
    author: str
    name: str
    at: float
    source: str  # the reply's dedupe key: the credited interaction's id derives from it
    thread: str
    group: int  # people the reply addressed besides the parent's author
    addressed: tuple[str, ...]  # those people: the parent's author among them needs no credit

    def to_dict(self) -> dict[str, Any]:
        return {"type": "reply", **asdict(self)}


def thread_records(
    message: MailMessage, blocked: Collection[str] = frozenset()
) -> tuple[Authored | None, ReplyLink | None]:
    """What a list message contributes to the join: its authorship, and its link to the parent.
    Nothing by a blocked author, and no blocked address among the people it addressed."""
    if not message.list_id or message.sender is None or is_automated(message) or is_bulk_marketing(message):
        return None, None
    not_people = non_person_addresses(message)
    sender = effective_sender(message, not_people)
    if sender is None or is_blocked(sender.email, blocked):
        return None, None
    authored = Authored(message.tenant, message.message_id, sender.email, sender.name) if message.message_id else None
    if not message.in_reply_to:
        return authored, None
    addressed = tuple(
        sorted(e for e in person_recipients(message, not_people | {sender.email}) if not is_blocked(e, blocked))
    )
    link = ReplyLink(
        tenant=message.tenant,
        parent_id=message.in_reply_to,
        author=sender.email,
        name=sender.name,
        at=message.sent_at,
        source=message.dedupe_key,
        thread=message.thread_hash,
        group=len(addressed),
        addressed=addressed,
    )
    return authored, link


def credit_parent_author(link: ReplyLink, parent: Authored, model: TieModel) -> Interaction | None:
    """The reply interaction from the reply's author to the parent's author, unless the reply
    already addressed them (then `derive_interactions` counted it) or they are the same person."""
    if parent.author == link.author or parent.author in link.addressed:
        return None
    group = link.group + 1
    if group > model.max_recipients:
        return None
    return Interaction(
        tenant=link.tenant,
        a=link.author,
        b=parent.author,
        kind="reply",
        weight=model.kind_weights["reply"] / group**model.group_exponent,
        at=link.at,
        source=link.source,
        a_name=link.name,
        b_name=parent.name,
        thread=link.thread,
    )


def thread_record_from_dict(data: dict[str, Any]) -> Authored | ReplyLink:
    """Decode a record of the join topic; ValueError/KeyError/TypeError for anything else."""
    fields = {k: v for k, v in data.items() if k != "type"}
    kind = data.get("type")
    if kind == "authored":
        return Authored(**fields)
    if kind == "reply":
        return ReplyLink(**{**fields, "addressed": tuple(fields.get("addressed") or ())})
    raise ValueError(f"unknown thread record type {kind!r}")


def forget_blocked_links(links: list[dict[str, Any]], blocked: Collection[str]) -> list[dict[str, Any]]:
    """Waiting replies (as the join table stores them) without a blocked person: a reply by one
    is dropped, and a blocked address is struck from the people a reply addressed (it only ever
    served to avoid crediting them twice, and a blocked person is never credited anyway)."""
    kept = []
    for link in links:
        if is_blocked(str(link.get("author", "")), blocked):
            continue
        addressed = [e for e in link.get("addressed") or () if not is_blocked(e, blocked)]
        kept.append({**link, "addressed": addressed})
    return kept
