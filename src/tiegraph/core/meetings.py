"""Meetings -> interactions, with updates and cancellations replacing what a meeting counted.

A meeting occurrence (uid + recurrence id) counts once however many calendars hold it. An iTIP
update with a higher SEQUENCE replaces it: what the old version contributed is retracted (exact
negative interactions) and the new version is applied. Cancelled meetings and declined
invitations do not count as met.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from tiegraph.core.model import TieModel
from tiegraph.core.noise import is_list_address, is_role_address
from tiegraph.core.records import CalendarEvent, Interaction


def _declined(previous: dict[str, Any] | None, event: CalendarEvent) -> set[str]:
    """Declines are remembered across copies: an organiser's stale copy must not undo one."""
    declined = set(previous["declined"]) if previous else set()
    for attendee in event.attendees:
        if attendee.status == "declined":
            declined.add(attendee.email)
        elif attendee.status in ("accepted", "tentative"):
            declined.discard(attendee.email)
    return declined


def meeting_participants(event: CalendarEvent, declined: set[str], model: TieModel) -> dict[str, str]:
    """Who met: organiser and attendees who did not decline; nobody if cancelled or an all-hands."""
    if event.cancelled:
        return {}
    people: dict[str, str] = {}
    if event.organizer is not None:
        people[event.organizer.email] = event.organizer.name
    for attendee in event.attendees:
        if attendee.email not in declined:
            people.setdefault(attendee.email, attendee.name)
    people = {e: n for e, n in people.items() if not is_role_address(e) and not is_list_address(e)}
    if len(people) < 2 or len(people) > model.max_recipients:
        return {}
    return people


def _pair_interactions(tenant: str, people: dict[str, str], at: float, weight: float, source: str) -> list[Interaction]:
    return [
        Interaction(
            tenant=tenant,
            a=a,
            b=b,
            kind="meeting",
            weight=weight,
            at=at,
            source=source,
            a_name=people.get(a, ""),
            b_name=people.get(b, ""),
        )
        for a, b in combinations(sorted(people), 2)
    ]


def plan_meeting(
    previous: dict[str, Any] | None, event: CalendarEvent, model: TieModel
) -> tuple[dict[str, Any] | None, list[Interaction]]:
    """The meeting's new state (None if unchanged) and the interactions to apply for it."""
    if previous is not None and event.sequence < previous["sequence"]:
        return None, []  # an older version arriving late
    declined = _declined(previous, event)
    people = meeting_participants(event, declined, model)
    unchanged = (
        previous is not None
        and previous["participants"] == people
        and previous["at"] == event.start
        and sorted(previous["declined"]) == sorted(declined)
    )
    if unchanged:
        return None, []
    version = previous["version"] + 1 if previous else 1
    out: list[Interaction] = []
    key = f"{event.tenant}|{event.key}"
    if previous is not None and previous["participants"]:
        out += _pair_interactions(
            event.tenant,
            previous["participants"],
            previous["at"],
            -previous["weight"],
            f"{key}#v{previous['version']}-retracted",
        )
    weight = 0.0
    if people:
        weight = model.kind_weights["meeting"] / (len(people) - 1) ** model.group_exponent
        out += _pair_interactions(event.tenant, people, event.start, weight, f"{key}#v{version}")
    state = {
        "version": version,
        "sequence": max(event.sequence, previous["sequence"] if previous else 0),
        "at": event.start,
        "participants": people,
        "declined": sorted(declined),
        "weight": weight,
    }
    return state, out
