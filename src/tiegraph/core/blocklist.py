"""Per-tenant blocklists: addresses and domains whose mail must never become part of the graph."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from tiegraph.core.identity import InvalidAddress, normalize_email
from tiegraph.core.records import Interaction

_DOMAIN = re.compile(r"^(?=.{3,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")


class InvalidBlockEntry(ValueError):
    pass


def block_entry(raw: str) -> tuple[str, str]:
    """(normalised value, "address" or "domain") for a blocklist entry; InvalidBlockEntry if neither."""
    text = raw.strip().lower()
    if "@" in text.lstrip("@"):
        try:
            return normalize_email(text), "address"
        except InvalidAddress as exc:
            raise InvalidBlockEntry(str(exc)) from exc
    domain = text.lstrip("@").rstrip(".")
    if not _DOMAIN.match(domain):
        raise InvalidBlockEntry(f"{raw!r} is neither an email address nor a domain")
    return domain, "domain"


def is_blocked(email: str, blocked: Collection[str]) -> bool:
    """The address, its domain, or any parent domain of it is on the blocklist."""
    if not blocked:
        return False
    if email in blocked:
        return True
    labels = email.rpartition("@")[2].split(".")
    return any(".".join(labels[i:]) in blocked for i in range(len(labels) - 1))


def drop_blocked(interactions: Iterable[Interaction], blocked: Collection[str]) -> list[Interaction]:
    """The interactions in which nobody is blocked: a blocked address never reaches a tie."""
    return [i for i in interactions if not (is_blocked(i.a, blocked) or is_blocked(i.b, blocked))]
