"""Turning a message into directed contacts between people."""

from __future__ import annotations

from tiegraph.core.model import TieModel
from tiegraph.core.noise import is_automated, is_bulk_marketing, is_list_address, non_person_addresses
from tiegraph.core.records import Address, Interaction, MailMessage

# When one address appears in several headers, the strongest kind wins once.
_KIND_RANK = {"reply": 3, "to": 2, "cc": 1}


def _recipient_kinds(message: MailMessage) -> dict[str, tuple[str, Address]]:
    direct_kind = "reply" if message.is_reply else "to"
    # Bcc is only trustworthy in the sender's own copy; elsewhere it is an export artefact.
    own_copy = message.sender is not None and message.mailbox == message.sender.email
    headers: list[tuple[str, tuple[Address, ...]]] = [(direct_kind, message.to), ("cc", message.cc)]
    if own_copy:
        headers.append(("cc", message.bcc))
    kinds: dict[str, tuple[str, Address]] = {}
    for kind, addresses in headers:
        for address in addresses:
            current = kinds.get(address.email)
            if current is None or _KIND_RANK[kind] > _KIND_RANK[current[0]]:
                kinds[address.email] = (kind, address)
    return kinds


def effective_sender(message: MailMessage, not_people: frozenset[str]) -> Address | None:
    """The person who wrote the message. A list that rewrites From to its own address (DMARC
    mitigation: "Jane via AppArmor <apparmor@lists...>") keeps the author in Reply-To."""
    sender = message.sender
    if sender is None:
        return None
    if sender.email in not_people or is_list_address(sender.email):
        authors = [a for a in message.reply_to if a.email not in not_people and not is_list_address(a.email)]
        return authors[0] if authors else None
    return sender


def person_recipients(message: MailMessage, dropped: frozenset[str]) -> dict[str, tuple[str, Address]]:
    """The people a message addressed (kind and address each), without the `dropped` addresses."""
    return {e: v for e, v in _recipient_kinds(message).items() if e not in dropped}


def derive_interactions(message: MailMessage, model: TieModel) -> list[Interaction]:
    """The person-to-person contacts a message represents; none for machine or bulk mail."""
    if message.sender is None or is_automated(message) or is_bulk_marketing(message):
        return []
    not_people = non_person_addresses(message)
    sender = effective_sender(message, not_people)
    if sender is None:
        return []
    recipients = person_recipients(message, not_people | {sender.email})
    group = len(recipients)
    if group == 0 or group > model.max_recipients:
        return []
    divisor = group**model.group_exponent
    return [
        Interaction(
            tenant=message.tenant,
            a=sender.email,
            b=email,
            kind=kind,
            weight=model.kind_weights[kind] / divisor,
            at=message.sent_at,
            source=message.dedupe_key,
            a_name=sender.name,
            b_name=address.name,
            thread=message.thread_hash,
        )
        for email, (kind, address) in sorted(recipients.items())
    ]
