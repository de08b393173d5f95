"""Who an address is: normalisation, organisation, internal or external.

The Public Suffix List comes from the snapshot that ships inside `tldextract`; it is never
fetched at run time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import tldextract

# Consumer mail providers: an address there says nothing about the person's employer.
FREE_MAIL_DOMAINS = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "ymail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "protonmail.com",
        "proton.me",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "yandex.ru",
        "yandex.com",
        "mail.ru",
        "qq.com",
        "163.com",
        "126.com",
        "zoho.com",
        "fastmail.com",
        "earthlink.net",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "bellsouth.net",
        "juno.com",
        "netzero.net",
        "prodigy.net",
        "cox.net",
        "charter.net",
        "excite.com",
        "lycos.com",
        "rocketmail.com",
        "btinternet.com",
        "orange.fr",
        "free.fr",
        "libero.it",
        "t-online.de",
        "seznam.cz",
        "naver.com",
        "hanmail.net",
        "rediffmail.com",
    ]
)

_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
# Exchange legacy DNs: /O=ENRON/OU=NA/CN=RECIPIENTS/CN=JSKILLIN
_X500 = re.compile(r"^/o=[^/]+(/ou=[^/]+)*(/cn=[^/]+)+$", re.IGNORECASE)


class InvalidAddress(ValueError):
    """The text is not a usable mail address."""


def normalize_email(raw: str) -> str:
    """Lower-case, strip quotes and brackets, fold `a..b` runs; raise InvalidAddress if unusable."""
    text = raw.strip().strip("<>\"' ").strip()
    text = text.lower()
    if _X500.match(text):
        raise InvalidAddress(f"X.500 name without an SMTP address: {raw!r}")
    if text.startswith("mailto:"):
        text = text[len("mailto:") :]
    local, _, domain = text.rpartition("@")
    # Enron's export wrote `a..bibi@enron.com` for `a.bibi@`; a leading dot is export debris too.
    local = re.sub(r"\.{2,}", ".", local).strip(".")
    domain = domain.strip(".")
    text = f"{local}@{domain}"
    if not local or not _ADDRESS.match(text):
        raise InvalidAddress(f"not a mail address: {raw!r}")
    return text


@lru_cache(maxsize=65536)
def registrable_domain(domain: str) -> str:
    """The domain an organisation registered (`mail.bbc.co.uk` -> `bbc.co.uk`)."""
    extracted = _EXTRACT(domain)
    return extracted.top_domain_under_public_suffix or domain


@dataclass(frozen=True, slots=True)
class Affiliation:
    """Where an address belongs: its organisation (None for free mail) and whether it is ours."""

    organization: str | None
    internal: bool


def affiliation_of(email: str, internal_domains: Iterable[str] = ()) -> Affiliation:
    """Organisation and internal flag of a normalised address for a tenant's domains."""
    return _domain_affiliation(email.rpartition("@")[2], tuple(internal_domains))


@lru_cache(maxsize=65536)
def _domain_affiliation(domain: str, internal_domains: tuple[str, ...]) -> Affiliation:
    """Cached: the graph writer asks for both people of every tie it writes, and most ties are
    between the same few hundred domains."""
    org = registrable_domain(domain)
    internal = any(org == d or domain == d or domain.endswith("." + d) for d in internal_domains)
    if org in FREE_MAIL_DOMAINS or domain in FREE_MAIL_DOMAINS:
        return Affiliation(organization=None, internal=internal)
    return Affiliation(organization=org, internal=internal)


def display_name(raw: str) -> str:
    """A display name cleaned of quotes and of names that are just the address again."""
    name = raw.strip().strip("\"'").strip()
    if "@" in name or _X500.match(name):
        return ""
    return " ".join(name.split())
