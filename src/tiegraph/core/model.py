"""The tunable parameters of the tie-strength model (one default, overridable per tenant)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

DAY = 86_400.0


def _default_kind_weights() -> dict[str, float]:
    # A reply shows engagement, a direct To addresses the person, Cc merely informs;
    # a meeting costs both sides time and counts most.
    return {"reply": 1.5, "to": 1.0, "cc": 0.4, "meeting": 2.0}


@dataclass(frozen=True, slots=True)
class TieModel:
    """Parameters of the default model; see README "Tie strength" for the reasoning."""

    kind_weights: dict[str, float] = field(default_factory=_default_kind_weights)
    group_exponent: float = 1.0  # weight / group_size ** exponent: 1:1 means more than 1:40
    max_recipients: int = 100  # beyond this a message is a broadcast, not a conversation
    group_min_correspondents: int = 10  # never sends, written to by this many: a group address
    fast_half_life_days: float = 90.0
    slow_half_life_days: float = 730.0
    fast_share: float = 0.5  # how much of intensity the fast (recent) component carries
    saturation: float = 6.0  # decayed intensity at which a tie is ~63% of the way to 1
    one_way_cap: float = 0.25  # the most a tie with no contact back can score
    strong_at: float = 0.6
    known_at: float = 0.3

    @property
    def fast_half_life(self) -> float:
        return self.fast_half_life_days * DAY

    @property
    def slow_half_life(self) -> float:
        return self.slow_half_life_days * DAY

    def with_overrides(self, overrides: dict[str, Any]) -> TieModel:
        """A copy with a tenant's overrides applied; unknown names are an error."""
        unknown = set(overrides) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown tie model parameters: {sorted(unknown)}")
        checked: dict[str, Any] = {}
        for name, value in overrides.items():
            current = getattr(self, name)
            if isinstance(current, dict):
                if not isinstance(value, dict) or not all(_is_number(v) for v in value.values()):
                    raise ValueError(f"{name} takes a mapping of numbers, got {value!r}")
                unknown_kinds = set(value) - set(current)
                if unknown_kinds:
                    raise ValueError(f"unknown kinds in {name}: {sorted(unknown_kinds)}")
                checked[name] = {**current, **value}
            elif not _is_number(value) or value < 0:
                raise ValueError(f"{name} takes a non-negative number, got {value!r}")
            else:
                checked[name] = type(current)(value)
        return replace(self, **checked)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
