"""What is not a person and what is not a conversation.

The rules keep real people even in list traffic: a discussion list's messages are person-to-person
conversations carried through a list address, and only the list address is dropped.
"""

from __future__ import annotations

import re

from tiegraph.core.records import MailMessage

# Local parts that belong to machines or roles, never to one person.
_ROLE_LOCAL = re.compile(
    r"^(no-?reply|do-?not-?reply|donotreply|mailer-daemon|postmaster|bounces?|bounce[-+].*|"
    r"notifications?|notify|alerts?|daemon|root|abuse|listserv|majordomo|owner-.*|.*-owner|"
    r".*-request|.*-bounces|automated|auto-?reply|newsletters?|news|marketing|info|support|"
    r"help|sales|billing|invoices?|receipts?|feedback|calendar-notification|announcements?)"
    r"(\+.*)?$"
)

_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})


def is_role_address(email: str) -> bool:
    """A role or automated sender (no-reply, mailer-daemon, notifications, ...)."""
    return bool(_ROLE_LOCAL.match(email.partition("@")[0]))


def is_list_address(email: str) -> bool:
    """A mailing-list address by its form (`x@lists.example.org`), for sources without List-Id."""
    domain = email.partition("@")[2]
    return domain.startswith(("lists.", "list.", "googlegroups.")) or domain.endswith(".googlegroups.com")


def looks_like_group(sends: bool, correspondents: int, min_correspondents: int) -> bool:
    """A distribution group: many people write to it and it never writes to anyone."""
    return not sends and correspondents >= min_correspondents


def list_address_of(list_id: str) -> str:
    """The address form of a List-Id (`<apparmor.lists.ubuntu.com>` -> `apparmor@lists.ubuntu.com`)."""
    ident = list_id.strip()
    if "<" in ident:
        ident = ident[ident.rfind("<") + 1 :].rstrip(">").strip()
    ident = ident.lower()
    local, _, rest = ident.partition(".")
    return f"{local}@{rest}" if rest else ""


def is_automated(message: MailMessage) -> bool:
    """Sent by a machine: Auto-Submitted other than `no`, or a role sender."""
    if message.auto_submitted and message.auto_submitted.lower() != "no":
        return True
    return message.sender is not None and is_role_address(message.sender.email)


def is_bulk_marketing(message: MailMessage) -> bool:
    """Bulk mail that is not a discussion list: unsubscribe header or bulk precedence, no List-Id."""
    if message.list_id:
        return False  # discussion lists also say bulk; their people are real
    return message.list_unsubscribe or message.precedence.lower() in _BULK_PRECEDENCE


def non_person_addresses(message: MailMessage) -> frozenset[str]:
    """Addresses in the message that are not people: the list address and role addresses."""
    found = set()
    if message.list_id:
        found.add(list_address_of(message.list_id))
    for address in (*message.to, *message.cc, *message.bcc):
        if is_role_address(address.email):
            found.add(address.email)
    return frozenset(found)
