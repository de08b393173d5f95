"""Core ties -> API views: scored at a moment and oriented from one person's side."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tiegraph.api.schemas import Contact, Direction, Evidence, Person
from tiegraph.core.model import TieModel
from tiegraph.core.ties import Tie, TieScore, score_tie


def iso(at: float | None) -> str | None:
    return datetime.fromtimestamp(at, tz=UTC).isoformat() if at else None


def _direction(tie: Tie, direction: str, intensity: float, replies: tuple[float, int]) -> Direction:
    seconds, answered = replies
    return Direction(
        to=tie.count("to", direction),
        cc=tie.count("cc", direction),
        reply=tie.count("reply", direction),
        intensity=intensity,
        answered=answered,
        mean_answer_hours=seconds / answered / 3600 if answered else None,
    )


def explain(tie: Tie, person: str, now: float, model: TieModel) -> tuple[TieScore, Evidence]:
    """The tie's score and its evidence, with `sent` meaning from `person`."""
    score = score_tie(tie, now, model)
    out, back = ("ab", "ba") if tie.a == person else ("ba", "ab")
    i_out, i_back = (
        (score.intensity_ab, score.intensity_ba) if out == "ab" else (score.intensity_ba, score.intensity_ab)
    )
    replies = tie.reply_totals()  # both directions at once (a contacts page explains 50 ties)
    sent, received = _direction(tie, out, i_out, replies[out]), _direction(tie, back, i_back, replies[back])
    sent_total = tie.messages(out)
    evidence = Evidence(
        sent=sent,
        received=received,
        meetings=tie.count("meeting"),
        reciprocity=score.reciprocity,
        reply_rate=(received.reply / sent_total) if sent_total else None,
        first_contact=iso(tie.first_at),
        last_contact=iso(tie.last_at),
        contact_days=tie.contact_days,
    )
    return score, evidence


def person_view(row: dict[str, Any]) -> Person:
    return Person(
        email=row["email"],
        name=row["name"],
        organization=row["organization"],
        internal=row["internal"],
        ties=row["ties"],
    )


def contact_view(row: dict[str, Any], tie: Tie, person: str, now: float, model: TieModel) -> Contact:
    score, evidence = explain(tie, person, now, model)
    return Contact(
        email=row["email"],
        name=row["name"],
        organization=row["organization"],
        internal=row["internal"],
        strength=score.strength,
        band=score.band,
        evidence=evidence,
    )
