"""Turning a message into directed contacts between people."""

from __future__ import annotations

from tiegraph.core.model import TieModel
from tiegraph.core.noise import is_automated, is_bulk_marketing, non_person_addresses
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


def derive_interactions(message: MailMessage, model: TieModel) -> list[Interaction]:
    """The person-to-person contacts a message represents; none for machine or bulk mail."""
    sender = message.sender
    if sender is None or is_automated(message) or is_bulk_marketing(message):
        return []
    dropped = non_person_addresses(message) | {sender.email}
    recipients = {e: v for e, v in _recipient_kinds(message).items() if e not in dropped}
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
