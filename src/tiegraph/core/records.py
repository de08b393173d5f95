"""The domain records that flow through the pipeline.

Plain frozen dataclasses with a stable dict form (the wire format on Kafka). No I/O here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Address:
    """A normalised mail address with the display name it was seen with."""

    email: str
    name: str = ""


def _addresses(raw: Any) -> tuple[Address, ...]:
    return tuple(Address(email=a["email"], name=a.get("name", "")) for a in raw or ())


@dataclass(frozen=True, slots=True)
class MailMessage:
    """Metadata of one message as seen in one mailbox folder. Never a body; no subject text."""

    tenant: str
    mailbox: str  # the connected mailbox's owner, "" for an unowned archive
    source_id: str  # where it came from: provider id, or file path and offset
    message_id: str
    sent_at: float  # seconds since the epoch, UTC, from the Date header
    sender: Address | None  # From
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    on_behalf: Address | None = None  # Sender, where it differs from From
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    is_reply: bool = False  # In-Reply-To present, or a "Re:" subject (the subject itself is not kept)
    list_id: str = ""
    precedence: str = ""
    auto_submitted: str = ""
    list_unsubscribe: bool = False
    folder: str = ""
    subject_hash: str = ""
    thread_hash: str = ""  # the subject without Re:/Fwd: prefixes, hashed: the conversation topic
    dedupe_key: str = ""  # the same message in several mailboxes or folders shares this key

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MailMessage:
        sender = data.get("sender")
        on_behalf = data.get("on_behalf")
        return cls(
            tenant=data["tenant"],
            mailbox=data.get("mailbox", ""),
            source_id=data.get("source_id", ""),
            message_id=data.get("message_id", ""),
            sent_at=float(data["sent_at"]),
            sender=Address(**sender) if sender else None,
            to=_addresses(data.get("to")),
            cc=_addresses(data.get("cc")),
            bcc=_addresses(data.get("bcc")),
            reply_to=_addresses(data.get("reply_to")),
            on_behalf=Address(**on_behalf) if on_behalf else None,
            in_reply_to=data.get("in_reply_to", ""),
            references=tuple(data.get("references") or ()),
            is_reply=bool(data.get("is_reply", False)),
            list_id=data.get("list_id", ""),
            precedence=data.get("precedence", ""),
            auto_submitted=data.get("auto_submitted", ""),
            list_unsubscribe=bool(data.get("list_unsubscribe", False)),
            folder=data.get("folder", ""),
            subject_hash=data.get("subject_hash", ""),
            thread_hash=data.get("thread_hash", ""),
            dedupe_key=data.get("dedupe_key", ""),
        )


@dataclass(frozen=True, slots=True)
class Attendee:
    """A meeting participant with their response: accepted, tentative, declined, needs-action."""

    email: str
    name: str = ""
    status: str = "needs-action"


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """One occurrence of a meeting as seen in one calendar. No title, no description."""

    tenant: str
    calendar: str  # the calendar's owner, "" for an unowned file
    source_id: str
    uid: str
    recurrence_id: str  # the occurrence's original start (UTC ISO) for a series, "" otherwise
    organizer: Address | None
    attendees: tuple[Attendee, ...]
    start: float
    end: float
    status: str = "confirmed"  # confirmed, tentative, cancelled
    sequence: int = 0
    method: str = ""  # iTIP method of the file: REQUEST, CANCEL, PUBLISH, ...

    @property
    def key(self) -> str:
        """The same meeting occurrence in every calendar and every update shares this key."""
        return f"{self.uid}|{self.recurrence_id}"

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled" or self.method == "CANCEL"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CalendarEvent:
        organizer = data.get("organizer")
        return cls(
            tenant=data["tenant"],
            calendar=data.get("calendar", ""),
            source_id=data.get("source_id", ""),
            uid=data["uid"],
            recurrence_id=data.get("recurrence_id", ""),
            organizer=Address(**organizer) if organizer else None,
            attendees=tuple(Attendee(**a) for a in data.get("attendees") or ()),
            start=float(data["start"]),
            end=float(data.get("end", data["start"])),
            status=data.get("status", "confirmed"),
            sequence=int(data.get("sequence", 0)),
            method=data.get("method", ""),
        )


@dataclass(frozen=True, slots=True)
class Interaction:
    """One directed contact from `a` to `b` derived from a message or meeting."""

    tenant: str
    a: str
    b: str
    kind: str  # "to", "cc", "reply", "meeting"
    weight: float
    at: float
    source: str  # the dedupe key of the message or meeting it came from
    a_name: str = ""
    b_name: str = ""
    thread: str = ""  # the conversation topic, for turn taking
    origin_ms: int = 0  # Kafka timestamp of the source record (when it entered tiegraph); 0 = unknown

    @property
    def pair(self) -> tuple[str, str]:
        return (self.a, self.b) if self.a < self.b else (self.b, self.a)

    @property
    def id(self) -> str:
        """Identifies this effect: replaying the same source never applies it twice."""
        return f"{self.source}|{self.a}|{self.b}|{self.kind}"

    def to_dict(self) -> dict[str, Any]:
        # Flat, so no need for `asdict`'s recursive copy: this runs for every interaction sent.
        return {name: getattr(self, name) for name in _INTERACTION_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Interaction:
        return cls(**data)


_INTERACTION_FIELDS = tuple(f.name for f in fields(Interaction))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record the pipeline could not use, with the reason in words."""

    tenant: str
    stage: str  # "import", "decode", ...
    source: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
