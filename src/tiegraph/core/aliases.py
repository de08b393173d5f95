"""A mailbox owner's aliases, learned from its sent mail; and folding aliases into one person.

The rule: an address that sends from the owner's sent folders is the owner's alias when its
display name (or, without one, its `first.last` local part) names the owner. Sending from the
owner's mailbox is not enough: executives' sent folders are mostly written by delegates (in the
Enron `lay-k` mailbox 497 of 540 sent messages are From his assistant rosalee.fleming@enron.com),
and a delegate is her own person. A shared surname is not enough either (`skilling@enron.com` is
"Skilling, Tom", writing *to* Jeff Skilling), nor a joint sender ("Ken Lay and Jeff Skilling").
Who the owner is by name comes from the names their own address carries in their sent mail and
from a `first.last` owner address; an owner whose name is unknown gets no aliases.

Folding happens at read time (`merge_ties`): ties stay stored per address, so replaying the
stream gives the same graph whatever order aliases and mail arrive in.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tiegraph.core.model import TieModel
from tiegraph.core.records import MailMessage
from tiegraph.core.ties import Tie, decay

# Last folder-path component, lower-cased with punctuation as spaces: "Sent", "Sent Items",
# "[Gmail]/Sent Mail", "INBOX.Sent Messages", Enron's "_sent_mail" and "'sent mail", Gmail's SENT
# label, Graph's "sentitems", and the common localised names.
_SENT_NAMES = frozenset(
    {
        "sent",
        "sent items",
        "sentitems",
        "sent mail",
        "sent messages",
        "sent email",
        "gesendet",
        "gesendete objekte",
        "gesendete elemente",
        "envoyes",
        "elements envoyes",
        "enviados",
        "elementos enviados",
        "posta inviata",
        "verzonden items",
    }
)
_NAME_NOISE = re.compile(r"[^a-z]+")
_TITLES = frozenset({"mr", "mrs", "ms", "dr", "prof", "jr", "sr", "ii", "iii"})
# A name with more words than first, one middle and last is a description, not a name
# ("Ken Lay and Jeff Skilling", "Jeff Skilling President and CEO").
_MAX_NAME_WORDS = 3


def is_sent_folder(folder: str) -> bool:
    """Whether a folder (or Gmail label list) is where the mailbox keeps the mail it sent."""
    for label in folder.split(","):
        last = re.split(r"[/\\.]", label.strip())[-1]
        words = " ".join(_NAME_NOISE.sub(" ", last.lower().replace("é", "e")).split())
        if words in _SENT_NAMES:
            return True
    return False


def name_words(name: str) -> tuple[str, ...]:
    """A display name as lower-case words in first-to-last order: "Skilling, Jeff" -> (jeff, skilling).

    Lotus Notes' "Name@DOMAIN" and Exchange's "Name </O=...>" tails are cut; titles are dropped.
    """
    text = name.split("<", 1)[0].split("(", 1)[0].strip().strip("\"'").lower()
    if "@" in text:
        text, _, _ = text.partition("@")
        if " " not in text.strip():  # an address standing in for a name names an address, not a person
            return ()
    if text.count(",") == 1:
        last, first = text.split(",")
        text = f"{first} {last}"
    return tuple(w for w in _NAME_NOISE.sub(" ", text).split() if w not in _TITLES)


def local_part_words(email: str) -> tuple[str, ...]:
    """`jeff.skilling@...` and `jeff_skilling@...` name a person; `jskilling@` or `ceo@` do not."""
    local = email.partition("@")[0].split("+", 1)[0]
    words = tuple(w for w in re.split(r"[._-]+", local) if w)
    if len(words) < 2 or not all(w.isalpha() for w in words):
        return ()
    return words


def _first_names_agree(x: str, y: str) -> bool:
    """Jeff / Jeffrey, Ken / Kenneth, J / Jeff; not Jeff / Tom."""
    if len(x) == 1 or len(y) == 1:
        return x[0] == y[0]
    short, long_ = sorted((x, y), key=len)
    return len(short) >= 3 and long_.startswith(short)


def same_name(x: Sequence[str], y: Sequence[str]) -> bool:
    """Two names (as `name_words`) of the same person: same last name, agreeing first names, at
    most one middle name each."""
    if not (2 <= len(x) <= _MAX_NAME_WORDS and 2 <= len(y) <= _MAX_NAME_WORDS):
        return False
    return x[-1] == y[-1] and _first_names_agree(x[0], y[0])


@dataclass(frozen=True, slots=True)
class Alias:
    """`alias` is another address of `owner` (its mailbox's owner), seen with `name` in its sent mail."""

    tenant: str
    alias: str
    owner: str
    name: str = ""
    messages: int = 0  # messages from the alias in the sent folders the decision was made on

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alias:
        return cls(
            tenant=data["tenant"],
            alias=data["alias"],
            owner=data["owner"],
            name=data.get("name", ""),
            messages=int(data.get("messages", 0)),
        )


class SentMail:
    """What an importer or sync runner keeps of an owner's sent mail to decide its aliases:
    per sending address, its display names and message count (no subjects, no recipients)."""

    def __init__(self, tenant: str, owner: str) -> None:
        self.tenant, self.owner = tenant, owner
        self.senders: dict[str, dict[str, int]] = {}  # address -> display name -> messages

    def note(self, message: MailMessage) -> None:
        """Remember the sender of a message of the owner's mailbox that is in a sent folder."""
        if not self.owner or message.mailbox != self.owner or message.sender is None:
            return
        if not is_sent_folder(message.folder):
            return
        names = self.senders.setdefault(message.sender.email, {})
        names[message.sender.name] = names.get(message.sender.name, 0) + 1

    def aliases(self) -> list[Alias]:
        """The owner's aliases by the rule of this module, strongest evidence first."""
        return learn_aliases(self.tenant, self.owner, self.senders)


def owner_names(owner: str, own_names: Iterable[str]) -> list[tuple[str, ...]]:
    """Every way the owner's name is known: names on their own address, their `first.last` address."""
    names = [words for n in own_names if len(words := name_words(n)) >= 2]
    if words := local_part_words(owner):
        names.append(words)
    return names


def learn_aliases(tenant: str, owner: str, senders: dict[str, dict[str, int]]) -> list[Alias]:
    """The addresses among the senders of the owner's sent folders (address -> display name ->
    messages) that name the owner; delegates, relatives and joint senders are left out."""
    known = owner_names(owner, senders.get(owner, {}))
    found = []
    for address, names in senders.items():
        if address == owner or not known:
            continue
        matching = {n: c for n, c in names.items() if _names_owner(n, address, known)}
        if matching:
            name = max(matching, key=lambda n: (matching[n], n))
            found.append(Alias(tenant, address, owner, name, sum(matching.values())))
    return sorted(found, key=lambda a: (-a.messages, a.alias))


def _names_owner(name: str, address: str, known: Sequence[tuple[str, ...]]) -> bool:
    words = name_words(name) if name.strip() else local_part_words(address)
    return any(same_name(words, owner) for owner in known)


def merge_ties(
    tenant: str, a: str, b: str, ties: Iterable[Tie], model: TieModel, a_addresses: Collection[str] = ()
) -> Tie:
    """One tie between `a` and `b` from the ties between their addresses; `a_addresses` are `a`'s
    (`a` itself and its aliases), which tells each stored tie's orientation.

    Decayed sums are additive once referenced to one time; counts and answer times add up;
    first and last contact are the extremes. Distinct contact days are stored as a count only, so
    the merged tie keeps the largest of them (a lower bound: the same day may be in several)."""
    parts = list(ties)
    a_side = {a, *a_addresses}
    merged = Tie(tenant=tenant, a=a, b=b)
    merged.ref_at = max((t.ref_at for t in parts), default=0.0)
    replies: dict[str, list[float]] = {"ab": [0.0, 0], "ba": [0.0, 0]}
    for tie in parts:
        swap = tie.a not in a_side  # stored the other way round: its "ab" is our "ba"
        elapsed = merged.ref_at - tie.ref_at
        for mine, theirs in (("ab", "ba"), ("ba", "ab")):
            src = theirs if swap else mine
            for speed, half_life in (("fast", model.fast_half_life), ("slow", model.slow_half_life)):
                name = f"{speed}_{mine}"
                value = decay(getattr(tie, f"{speed}_{src}"), elapsed, half_life)
                setattr(merged, name, getattr(merged, name) + value)
            seconds, count = tie.replies(src)
            replies[mine][0] += seconds
            replies[mine][1] += count
        for key, count in tie.counts.items():
            kind, _, direction = key.partition("_")
            if direction and swap:
                direction = "ba" if direction == "ab" else "ab"
            merged_key = f"{kind}_{direction}" if direction else kind
            merged.counts[merged_key] = merged.counts.get(merged_key, 0) + count
        if tie.first_at:
            merged.first_at = tie.first_at if not merged.first_at else min(merged.first_at, tie.first_at)
        merged.last_at = max(merged.last_at, tie.last_at)
        merged.stored_day_count = max(merged.stored_day_count, tie.contact_days)
    merged.stored_replies = replies
    return merged
