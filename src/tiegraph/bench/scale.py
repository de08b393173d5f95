"""The corpus for worker memory at scale: mail that makes a graph of a given number of ties.

The bench feeds it to one fresh worker and reads the worker's peak RSS once the graph is settled
(pipeline.py). The messages are built as the records connectors send (MailMessage dicts), not
parsed from generated RFC 822 text: ~125,000 messages for 1M ties would take minutes to parse,
and the stage measures the worker, not the parser.

Every person writes one message to a circle of RECIPIENTS contacts (one new tie each: `ties`
ties from `ties / RECIPIENTS` people), then a quarter of them write to the same circle again,
so some ties hold two interactions and both paths of a tie update (new tie, known tie) are taken.
"""

from __future__ import annotations

import random

from tiegraph.core.records import Address, MailMessage
from tiegraph.streams import topics as t

RECIPIENTS = 10
COMPANIES = 2_000
REPEAT_SHARE = 0.25
YEAR_S = 365 * 86_400.0


def _email(person: int) -> str:
    return f"p{person}@co{person % COMPANIES}-scale.com"


def scale_corpus(tenant: str, ties: int, now: float, seed: int = 11) -> list[tuple[bytes, bytes]]:
    """Keyed mail.messages.v1 records whose interactions make `ties` ties (for a multiple of
    RECIPIENTS from 210 up), sent over the year before `now`."""
    people = max(ties // RECIPIENTS, 2 * RECIPIENTS + 1)
    rng = random.Random(seed)
    # Sender s writes to s + d (mod people) for RECIPIENTS distinct d in 1..(people - 1) / 2: never
    # to someone who writes back to s, so each pair is one tie and the graph holds exactly `ties`.
    offsets = range(1, (people - 1) // 2 + 1)
    circles = [[(sender + d) % people for d in rng.sample(offsets, RECIPIENTS)] for sender in range(people)]
    senders = list(range(people)) + rng.sample(range(people), int(people * REPEAT_SHARE))
    records = []
    for n, sender in enumerate(senders):
        email = _email(sender)
        message = MailMessage(
            tenant=tenant,
            mailbox=email,
            source_id=f"scale/{n}",
            message_id=f"<scale-{n}@{email.partition('@')[2]}>",
            sent_at=now - YEAR_S * rng.random(),
            sender=Address(email, f"Person {sender}"),
            to=tuple(Address(_email(r), f"Person {r}") for r in circles[sender]),
            dedupe_key=f"scale-{n}",
        )
        records.append((t.message_key(tenant, message.dedupe_key), t.encode(message.to_dict())))
    return records
