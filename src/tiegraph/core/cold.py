"""Going cold: a tie whose silence is far beyond its own usual rhythm of contact."""

from __future__ import annotations

from dataclasses import dataclass

from tiegraph.core.ties import Tie


@dataclass(frozen=True, slots=True)
class Cooling:
    usual_interval: float  # seconds between contact days, on average, while the tie was active
    silence: float  # seconds since the last contact
    ratio: float  # silence / usual interval


def cooling(tie: Tie, now: float, factor: float = 3.0, min_contact_days: int = 3) -> Cooling | None:
    """How far past its rhythm a tie has gone quiet, or None when it has not (or has no rhythm yet).

    The usual interval is the tie's active span divided by its gaps between contact days; fewer than
    `min_contact_days` days give no rhythm to judge by.
    """
    days = tie.contact_days
    if days < max(min_contact_days, 2) or tie.last_at <= tie.first_at:
        return None
    usual = (tie.last_at - tie.first_at) / (days - 1)
    silence = now - tie.last_at
    if silence <= factor * usual:
        return None
    return Cooling(usual, silence, silence / usual)
