"""The caller's tenant's connected mailboxes and their sync state (never their credentials)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from tiegraph.api.deps import GraphDep, TenantDep
from tiegraph.api.schemas import ErrorBody
from tiegraph.graph.mailboxes import Mailbox, MailboxRegistry

router = APIRouter(tags=["mailboxes"])


def _when(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class MailboxOut(BaseModel):
    id: str = Field(description="provider:owner")
    provider: str
    owner: str
    state: str = Field(description="pending, backfilling, live, throttled, auth_failed or error")
    state_since: datetime | None
    last_success_at: datetime | None = Field(description="the end of the last complete sync pass")
    last_error: str = Field(description="why the mailbox is in auth_failed, throttled or error, in words")
    retry_at: datetime | None = Field(description="when the runner tries again (throttled, error)")
    messages: int = Field(description="message records produced (copies in several folders included)")
    events: int
    config: dict[str, Any] = Field(description="the non-secret options it was added with")
    created_at: datetime | None

    @classmethod
    def from_mailbox(cls, m: Mailbox) -> MailboxOut:
        return cls(
            id=m.id,
            provider=m.provider,
            owner=m.owner,
            state=m.state,
            state_since=_when(m.state_since),
            last_success_at=_when(m.last_success_at),
            last_error=m.last_error,
            retry_at=_when(m.retry_at),
            messages=m.messages,
            events=m.events,
            config=m.config,
            created_at=_when(m.created_at),
        )


class MailboxList(BaseModel):
    tenant: str
    mailboxes: list[MailboxOut]


@router.get("/v1/mailboxes", response_model=MailboxList, responses={401: {"model": ErrorBody}})
async def get_mailboxes(tenant: TenantDep, graph: GraphDep) -> MailboxList:
    """The tenant's mailboxes with sync state, last success, counts and last error."""
    mailboxes = await MailboxRegistry(graph).list(tenant.name)
    return MailboxList(tenant=tenant.name, mailboxes=[MailboxOut.from_mailbox(m) for m in mailboxes])
