"""What the Gmail and Google Calendar connectors share: credentials, the client, error translation.

google-api-python-client is synchronous (httplib2): each request runs in a worker thread so the
runner's event loop keeps serving Kafka. Discovery documents are the ones shipped with the
library (static_discovery), so building a client needs no network; `api_endpoint` replaces the
whole base URL (tests point it at a local fake). Google errors become the connector contract's:
throttling -> ConnectorThrottled, refused credentials -> ConnectorAuthError with what to do.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth import credentials as google_credentials
from google.auth.exceptions import GoogleAuthError, RefreshError
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from tiegraph.ingest.base import ConnectorAuthError, ConnectorError, ConnectorThrottled, CursorInvalidated

HTTP_TIMEOUT = 60.0
DEFAULT_BACKOFF = 30.0  # seconds, when a rate-limit answer carries no Retry-After
QUOTA_BACKOFF = 3600.0  # a daily quota is not back within seconds
_RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "backendError429"}
_QUOTA_REASONS = {"dailyLimitExceeded", "quotaExceeded"}
RECONNECT_HINT = "reconnect it with `tiegraph mailboxes add` and a new Google authorization"


def load_credentials(secret: dict[str, Any], *, owner: str, scopes: list[str]) -> google_credentials.Credentials:
    """Per-user OAuth (authorized_user JSON) or a service account acting as `owner` (domain-wide delegation)."""
    try:
        if "authorized_user" in secret:
            info = dict(secret["authorized_user"])
            user: user_credentials.Credentials = user_credentials.Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
                info, scopes=scopes
            )
            # from_authorized_user_info always uses Google's token endpoint; the secret's own wins.
            if info.get("token_uri"):
                user = user.with_token_uri(info["token_uri"])
            return user
        if "service_account" in secret:
            account: service_account.Credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                secret["service_account"], scopes=scopes, subject=owner
            )
            return account
    except (ValueError, KeyError, TypeError) as exc:
        raise ConnectorAuthError(
            f"the Google credentials for {owner} are not usable ({exc}): {RECONNECT_HINT}"
        ) from exc
    raise ConnectorAuthError(
        f"no Google credentials for {owner}: the secret needs 'authorized_user' or 'service_account'; {RECONNECT_HINT}"
    )


def build_client(api: str, version: str, *, creds: google_credentials.Credentials, api_endpoint: str | None) -> Any:
    """A discovery-based client for `api` that sends every request, token refresh included, where told."""
    http = google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(timeout=HTTP_TIMEOUT))
    options = {"api_endpoint": api_endpoint} if api_endpoint else None
    return build(api, version, http=http, static_discovery=True, cache_discovery=False, client_options=options)


def _reason(exc: HttpError) -> str:
    try:
        error = json.loads(exc.content.decode("utf-8", "replace")).get("error", {})
    except (ValueError, AttributeError):
        return ""
    if not isinstance(error, dict):
        return str(error)
    details = error.get("errors") or [{}]
    return str(details[0].get("reason") or error.get("status") or "")


def _retry_after(exc: HttpError, default: float) -> float:
    raw = exc.resp.get("retry-after") if exc.resp is not None else None
    try:
        return max(0.0, float(raw)) if raw is not None else default
    except ValueError:
        return default  # an HTTP date: rare from Google, and a default pause is safe


def translate(exc: BaseException, *, owner: str, service: str, via: str) -> ConnectorError:
    """The contract's error for a failed Google call (`via` names the credentials, for the hint)."""
    if isinstance(exc, RefreshError):
        detail = str(exc.args[0]) if exc.args else str(exc)
        if "service account" in via:
            return ConnectorAuthError(
                f"Google refused {via} acting for {owner} ({detail}): check the key and that domain-wide "
                f"delegation grants the {service} scope in the Workspace admin console"
            )
        return ConnectorAuthError(
            f"the refresh token for {owner} was revoked or has expired ({detail}): {RECONNECT_HINT}"
        )
    if isinstance(exc, GoogleAuthError):
        return ConnectorAuthError(f"Google authentication for {owner} failed ({exc}): {RECONNECT_HINT}")
    if isinstance(exc, HttpError):
        status, reason = int(exc.resp.status), _reason(exc)
        if status == 429 or reason in _RATE_LIMIT_REASONS:
            return ConnectorThrottled(
                f"{service} rate limit for {owner} ({reason or status})", _retry_after(exc, DEFAULT_BACKOFF)
            )
        if reason in _QUOTA_REASONS:
            return ConnectorThrottled(
                f"{service} quota exhausted for {owner} ({reason})", _retry_after(exc, QUOTA_BACKOFF)
            )
        if status == 401:
            return ConnectorAuthError(f"Google refused the access token for {owner} (HTTP 401): {RECONNECT_HINT}")
        if status == 403:
            return ConnectorAuthError(
                f"Google denied {service} access for {owner} ({reason or 'HTTP 403'}): grant the {service} scope "
                f"to {via}, then {RECONNECT_HINT}"
            )
        return ConnectorError(f"{service} answered HTTP {status} for {owner}: {reason or exc.reason}")
    return ConnectorError(f"could not reach {service} for {owner}: {exc}")


def describe(secret: dict[str, Any]) -> str:
    """Which credentials these are, in words, for error messages."""
    account = secret.get("service_account")
    if isinstance(account, dict):
        return f"the service account {account.get('client_email', '?')}"
    return "the OAuth client"


async def execute(
    request: Any, *, owner: str, service: str, via: str, expired_on: frozenset[int] = frozenset()
) -> dict[str, Any]:
    """Run one API request in a worker thread; Google's errors come back as the contract's, and
    an HTTP status in `expired_on` (history 404, sync token 410) as CursorInvalidated."""
    try:
        result: dict[str, Any] = await asyncio.to_thread(request.execute)
    except HttpError as exc:
        if int(exc.resp.status) in expired_on:
            raise CursorInvalidated(f"{service} cursor for {owner} expired (HTTP {exc.resp.status})") from exc
        raise translate(exc, owner=owner, service=service, via=via) from exc
    except (GoogleAuthError, httplib2.HttpLib2Error, OSError) as exc:
        raise translate(exc, owner=owner, service=service, via=via) from exc
    return result


class GoogleConnector:
    """What the Gmail and Calendar connectors share: their client, whom they read for, and how
    a call is run and its errors translated. Neither has push here (Gmail needs a Cloud Pub/Sub
    topic, Calendar's events.watch a public HTTPS endpoint), and polling history.list or a sync
    token is cheap, so waiting for changes is a sleep."""

    service = "Google"  # the name people see in errors

    def __init__(self, client: Any, *, owner: str, tenant: str, via: str) -> None:
        self._client, self._owner, self._tenant, self._via = client, owner, tenant, via

    async def _call(self, request: Any, *, expired_on: frozenset[int] = frozenset()) -> dict[str, Any]:
        return await execute(request, owner=self._owner, service=self.service, via=self._via, expired_on=expired_on)

    async def wait_for_changes(self, timeout: float) -> None:
        await asyncio.sleep(timeout)

    async def close(self) -> None:
        return None
