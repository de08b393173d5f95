"""Response shapes of the HTTP API (stable: other tools depend on them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    error: str = Field(description="a stable machine-readable code")
    message: str = Field(description="what went wrong, for a person")


class Direction(BaseModel):
    to: int = 0
    cc: int = 0
    reply: int = 0
    intensity: float = Field(description="decayed weighted contact at `as_of`")
    answered: int = Field(0, description="times this side answered the other's last message in a conversation")
    mean_answer_hours: float | None = Field(None, description="mean time this side took to answer")


class Evidence(BaseModel):
    """Everything the strength was computed from, so a user can see why."""

    sent: Direction = Field(description="from the person to the contact")
    received: Direction = Field(description="from the contact to the person")
    meetings: int
    reciprocity: float = Field(description="2 * min / sum of the two intensities; 0 = one-way")
    reply_rate: float | None = Field(description="replies received per message sent, if any were sent")
    first_contact: str | None
    last_contact: str | None
    contact_days: int = Field(description="distinct days with contact either way")


class Contact(BaseModel):
    email: str
    name: str
    organization: str | None
    internal: bool
    strength: float = Field(ge=0, le=1)
    band: str = Field(description="strong, known or weak")
    evidence: Evidence
    aliases: list[str] = Field(
        default_factory=list, description="the contact's other addresses whose ties are summed into this one"
    )


class AliasView(BaseModel):
    email: str
    name: str = Field(description="the display name it sent with from the owner's sent folders")
    messages: int = Field(description="messages from it in the owner's sent folders when it was learned")


class Person(BaseModel):
    email: str
    name: str
    organization: str | None
    internal: bool
    ties: int
    aliases: list[AliasView] = Field(
        default_factory=list,
        description="the person's other addresses, learned from their mailbox's sent mail; their ties are folded in",
    )


class Contacts(BaseModel):
    person: Person
    as_of: str
    contacts: list[Contact]


class Awaiting(BaseModel):
    email: str
    name: str
    organization: str | None
    internal: bool
    conversations: int = Field(description="conversations whose last message, from this contact, is unanswered")
    last_message_at: str = Field(description="when the latest of them arrived")
    strength: float
    band: str


class AwaitingReply(BaseModel):
    person: Person
    as_of: str
    awaiting: list[Awaiting]


class TieView(BaseModel):
    a: str
    b: str
    as_of: str
    strength: float
    band: str
    evidence: Evidence = Field(description="oriented from `a` to `b`")
    folded: list[list[str]] = Field(
        default_factory=list, description="with aliases: the stored ties (address pairs) summed into this one"
    )


class Stats(BaseModel):
    tenant: str
    messages: int = Field(description="distinct messages ingested, before noise filtering")
    meetings: int
    people: int
    organizations: int
    ties: int
    dead_letters: int


class PartitionLagView(BaseModel):
    group: str
    topic: str
    partition: int
    committed: int
    end: int
    lag: int


class StageFreshness(BaseModel):
    topic: str
    lag: int
    oldest_waiting_s: float = Field(description="age of the oldest record the stage has not processed; 0 = caught up")


class Lag(BaseModel):
    total_lag: int
    topics: dict[str, int]
    partitions: list[PartitionLagView]
    stages: dict[str, StageFreshness] = Field(default_factory=dict)
    graph: dict[str, Any] = Field(
        default_factory=dict,
        description="newest_origin_ms/_age_s: the newest record that reached the graph; delay_p50_s/p99_s: "
        "event-to-graph delay of recent ties; heartbeat_age_s, workers_alive: the graph writers' heartbeats; "
        "stage_workers_alive: stream-stage processes with a recent heartbeat",
    )
    at: float = 0.0


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
