"""Response shapes of the network endpoints (stable: other tools depend on them)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tiegraph.api.schemas import Evidence, Person


class Acquaintance(BaseModel):
    """One tie between one of our people and someone at the target."""

    email: str
    name: str
    strength: float = Field(ge=0, le=1)
    band: str
    evidence: Evidence = Field(description="oriented from our person to this one")


class Knower(BaseModel):
    email: str
    name: str
    strength: float = Field(ge=0, le=1, description="the strongest of this person's ties to the target")
    band: str
    knows: int = Field(description="how many people at the target this person has a tie with")
    via: list[Acquaintance] = Field(description="the strongest of those ties (at most 3)")


class WhoKnows(BaseModel):
    target: str
    kind: str = Field(description="person or organization")
    as_of: str
    people: list[Knower]


class Hop(BaseModel):
    a: str
    b: str
    strength: float = Field(ge=0, le=1)
    band: str
    evidence: Evidence = Field(description="oriented from `a` to `b`")


class WarmPath(BaseModel):
    people: list[Person] = Field(description="from our person (first) to the target (last)")
    strength: float = Field(ge=0, le=1, description="the product of the hops' strengths")
    hops: list[Hop]


class Paths(BaseModel):
    to: str
    source: str | None = Field(description="the named starting person, or none for all of our people")
    kind: str = Field(description="person or organization")
    as_of: str
    paths: list[WarmPath]


class Connector(BaseModel):
    email: str
    name: str
    members_known: int
    strong: int = Field(description="members this person has a strong tie with")
    known: int = Field(description="members with a known tie")
    best_strength: float
    total_strength: float = Field(description="sum of the strengths of their ties there")


class WhiteSpace(BaseModel):
    email: str
    name: str
    best_strength: float = Field(description="their strongest tie to any of our people (0 if none)")
    best_connector: str | None


class Coverage(BaseModel):
    organization: str
    as_of: str
    members: int
    covered: int = Field(description="members with at least one strong tie to our people")
    key_connector: Connector | None = Field(description="the one of our people who covers the account most")
    connectors: list[Connector]
    white_space: list[WhiteSpace] = Field(description="members with no strong tie to us, strongest first")


class ColdTie(BaseModel):
    email: str
    name: str
    organization: str | None
    strength: float
    band: str
    last_contact: str
    usual_interval_days: float
    silent_days: float
    ratio: float = Field(description="silence divided by the usual interval between contacts")


class GoingCold(BaseModel):
    person: Person
    as_of: str
    factor: float
    ties: list[ColdTie]


class BlockEntry(BaseModel):
    value: str
    kind: str = Field(description="address or domain")
    created_at: float | None = None


class Blocklist(BaseModel):
    tenant: str
    entries: list[BlockEntry]


class BlockResult(BaseModel):
    value: str
    kind: str
    erased_people: int = Field(description="people removed from the graph by this entry")


class Erasure(BaseModel):
    email: str
    erased: bool
    ties: int
    blocked: bool = Field(description="the address is on the tenant's blocklist: future mail with it is dropped")
