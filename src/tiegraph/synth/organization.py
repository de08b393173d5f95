"""A synthetic organisation and its mail, realistic enough to exercise the model.

People work at a home company and several outside ones; each has a heavy-tailed set of contacts
(a few close, many occasional), colleagues write to each other more than to outsiders, some
outsiders never answer (cold outreach), replies form threads, and machines send notifications.
Deterministic for a seed, so a re-import of the same corpus must change nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

_FIRST = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Barbara",
    "Ken",
    "Dennis",
    "Margaret",
    "Edsger",
    "Donald",
    "Frances",
    "John",
    "Radia",
    "Tim",
    "Vint",
    "Sophie",
    "Hedy",
    "Claude",
    "Katherine",
    "Niklaus",
    "Leslie",
    "Bjarne",
    "Guido",
    "Yukihiro",
    "Anders",
    "James",
    "Brendan",
    "Larry",
    "Rasmus",
    "Jean",
    "Mary",
    "Shafi",
    "Silvio",
    "Whitfield",
    "Martin",
    "Ivan",
    "Lynn",
    "Adele",
    "Butler",
    "Robin",
    "Dana",
    "Tony",
    "Joan",
    "Fran",
    "Jim",
    "Carol",
    "Judea",
    "Yann",
    "Geoffrey",
    "Fei",
    "Andrew",
    "Daphne",
]
_LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Liskov",
    "Thompson",
    "Ritchie",
    "Hamilton",
    "Dijkstra",
    "Knuth",
    "Allen",
    "McCarthy",
    "Perlman",
    "Lee",
    "Cerf",
    "Wilson",
    "Lamarr",
    "Shannon",
    "Johnson",
    "Wirth",
    "Lamport",
    "Stroustrup",
    "Rossum",
    "Matsumoto",
    "Hejlsberg",
    "Gosling",
    "Eich",
    "Wall",
    "Lerdorf",
    "Sammet",
    "Kenyon",
    "Goldwasser",
    "Micali",
    "Diffie",
    "Fowler",
    "Sutherland",
    "Conway",
    "Goldberg",
    "Lampson",
    "Milner",
    "Hoare",
    "Clarke",
    "Emerson",
]
_COMPANIES = (
    "acme-robotics.com",
    "globex.io",
    "initech.net",
    "umbrella-health.org",
    "hooli.com",
    "vandelay.co.uk",
    "stark-industries.de",
)
_TOPICS = (
    "Q3 plan",
    "contract draft",
    "intro",
    "pricing",
    "board deck",
    "hiring",
    "roadmap",
    "renewal",
    "pilot results",
    "offsite",
)


@dataclass(frozen=True, slots=True)
class SynthPerson:
    email: str
    name: str
    domain: str


@dataclass
class Organization:
    """The generated world: the home company's people and everyone they correspond with."""

    home_domain: str
    internal: list[SynthPerson]
    external: list[SynthPerson]
    affinity: dict[str, list[tuple[SynthPerson, float]]] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)  # outsiders who never write back

    @property
    def ceo(self) -> SynthPerson:
        return self.internal[0]


def _person(rng: random.Random, domain: str, taken: set[str]) -> SynthPerson:
    while True:
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = f"{first.lower()}.{last.lower()}@{domain}"
        if email not in taken:
            taken.add(email)
            return SynthPerson(email, f"{first} {last}", domain)


def generate_organization(people: int = 60, seed: int = 7, home_domain: str = "tiegraph-demo.com") -> Organization:
    """People at a home company and outside companies, with heavy-tailed contact affinities."""
    rng = random.Random(seed)
    taken: set[str] = set()
    internal_count = max(3, people // 3)
    internal = [_person(rng, home_domain, taken) for _ in range(internal_count)]
    external = [_person(rng, rng.choice(_COMPANIES), taken) for _ in range(max(3, people - internal_count))]
    org = Organization(home_domain, internal, external)
    org.silent = {p.email for p in rng.sample(external, k=max(1, len(external) // 10))}
    for person in internal:
        colleagues = [p for p in internal if p != person]
        outsiders = rng.sample(external, k=min(len(external), rng.randint(3, 12)))
        contacts = rng.sample(colleagues, k=min(len(colleagues), rng.randint(2, 8))) + outsiders
        # Pareto weights: a few close contacts carry most of the traffic.
        org.affinity[person.email] = [
            (c, rng.paretovariate(1.2) * (2.0 if c.domain == home_domain else 1.0)) for c in contacts
        ]
    return org


def _header(
    sender: SynthPerson,
    to: list[SynthPerson],
    cc: list[SynthPerson],
    at: float,
    subject: str,
    msgid: str,
    reply_to_id: str,
) -> bytes:
    lines = [
        f"Message-ID: <{msgid}>",
        f"Date: {format_datetime(datetime.fromtimestamp(at, tz=UTC))}",
        f'From: "{sender.name}" <{sender.email}>',
        "To: " + ", ".join(f'"{p.name}" <{p.email}>' for p in to),
    ]
    if cc:
        lines.append("Cc: " + ", ".join(f'"{p.name}" <{p.email}>' for p in cc))
    if reply_to_id:
        lines += [f"In-Reply-To: <{reply_to_id}>", f"References: <{reply_to_id}>"]
    lines += [f"Subject: {subject}", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    return ("\r\n".join(lines) + "\r\n\r\n(body omitted)\r\n").encode()


def generate_mail(
    org: Organization, messages: int = 4000, seed: int = 11, start: float = 1_700_000_000.0, days: int = 540
) -> Iterator[bytes]:
    """RFC 5322 messages (headers and a stub body) spread over `days` from `start`."""
    rng = random.Random(seed)
    span = days * 86_400.0
    produced = 0
    while produced < messages:
        sender = rng.choice(org.internal)
        contacts = org.affinity[sender.email]
        primary = rng.choices([c for c, _ in contacts], weights=[w for _, w in contacts])[0]
        cc = (
            [c for c, _ in rng.sample(contacts, k=min(2, len(contacts))) if c != primary] if rng.random() < 0.25 else []
        )
        at = start + rng.random() * span
        subject = rng.choice(_TOPICS)
        msgid = f"{produced}.{rng.getrandbits(40):x}@{sender.domain}"
        yield _header(sender, [primary], cc, at, subject, msgid, "")
        produced += 1
        # Close contacts answer; outsiders who never write back do not.
        if primary.email not in org.silent and rng.random() < 0.6 and produced < messages:
            reply_at = at + rng.expovariate(1 / 14_400)
            reply_id = f"{produced}.{rng.getrandbits(40):x}@{primary.domain}"
            yield _header(primary, [sender], [], reply_at, f"Re: {subject}", reply_id, msgid)
            produced += 1
        if rng.random() < 0.05 and produced < messages:  # machine mail: never a relationship
            note = SynthPerson(f"no-reply@{rng.choice(_COMPANIES)}", "Notifications", "")
            yield _header(note, [sender], [], at + 60, "Your weekly report", f"n{produced}@x", "")
            produced += 1


def write_mbox(path: Path, messages: Iterator[bytes]) -> int:
    """Write messages as an mbox file; returns how many."""
    count = 0
    with path.open("wb") as out:
        for raw in messages:
            out.write(b"From tiegraph-synth Thu Jan  1 00:00:00 2026\n")
            out.write(raw.replace(b"\r\n", b"\n").replace(b"\nFrom ", b"\n>From "))
            out.write(b"\n")
            count += 1
    return count
