"""Access tokens for Microsoft Graph: client credentials (application permissions) or a delegated
refresh token, from the Microsoft identity platform's v2.0 token endpoint over httpx.

Hand-rolled rather than MSAL: MSAL is synchronous (requests) and both grants are one form POST;
the errors it would wrap are read here directly so each becomes a message a person can act on.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tiegraph.ingest.base import ConnectorAuthError, ConnectorError, ConnectorThrottled, SecretHook

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
APP_SCOPE = "https://graph.microsoft.com/.default"
DELEGATED_SCOPE = "https://graph.microsoft.com/Mail.ReadBasic https://graph.microsoft.com/Calendars.Read offline_access"
_EARLY = 120.0  # renew this long before expiry, so a token never lapses mid-request


def check_secret(secret: dict[str, Any], *, owner: str) -> None:
    """Refuse, in words, a secret that holds neither an app secret nor a refresh token."""
    token = secret.get("token")
    if not secret.get("client_secret") and not (isinstance(token, dict) and token.get("refresh_token")):
        raise ConnectorAuthError(
            f"no Microsoft credentials for {owner}: the secret needs 'client_secret' (application permissions) "
            "or 'token' with a refresh_token; reconnect the mailbox with `tiegraph mailboxes add`"
        )


class GraphTokens:
    """Holds the current access token for one mailbox and renews it when asked or about to expire."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        owner: str,
        client_id: str,
        directory_tenant: str,
        secret: dict[str, Any],
        authority: str = DEFAULT_AUTHORITY,
    ) -> None:
        self._http, self._owner, self._client_id = http, owner, client_id
        self._url = f"{authority.rstrip('/')}/{directory_tenant}/oauth2/v2.0/token"
        self._directory = directory_tenant
        check_secret(secret, owner=owner)
        self._secret = secret
        self.on_rotated: SecretHook | None = None  # the runner's: persists a rotated refresh token
        self._client_secret = secret.get("client_secret")
        token = secret.get("token") or {}
        self._refresh_token: str | None = token.get("refresh_token")
        self._access = str(token.get("access_token") or "")
        self._expires_at = float(token.get("expires_at") or 0.0)

    async def current(self) -> str:
        if not self._access or time.time() > self._expires_at - _EARLY:
            await self.renew()
        return self._access

    async def renew(self) -> None:
        form = {"client_id": self._client_id}
        if self._refresh_token:  # delegated: the user's consent, rotated on every use
            form |= {"grant_type": "refresh_token", "refresh_token": self._refresh_token, "scope": DELEGATED_SCOPE}
        else:
            form |= {"grant_type": "client_credentials", "scope": APP_SCOPE}
        if self._client_secret:
            form["client_secret"] = str(self._client_secret)
        try:
            response = await self._http.post(self._url, data=form)
        except httpx.HTTPError as exc:
            raise ConnectorError(f"could not reach the Microsoft token endpoint for {self._owner}: {exc}") from exc
        body = _json(response)
        if response.status_code == 429 or response.status_code >= 500:
            raise ConnectorThrottled(
                f"Microsoft token endpoint busy (HTTP {response.status_code})", retry_after_of(response, 30.0)
            )
        if response.status_code != 200 or "access_token" not in body:
            raise self._refused(body)
        self._access = str(body["access_token"])
        self._expires_at = time.time() + float(body.get("expires_in", 3600))
        rotated = body.get("refresh_token")
        if rotated and rotated != self._refresh_token:
            self._refresh_token = str(rotated)
            if self.on_rotated is not None:
                await self.on_rotated(self.current_secret())

    def current_secret(self) -> dict[str, Any]:
        """The secret as given, with the refresh token Microsoft handed out last (its stale access token dropped)."""
        token = {k: v for k, v in (self._secret.get("token") or {}).items() if k not in {"access_token", "expires_at"}}
        if self._refresh_token:
            token["refresh_token"] = self._refresh_token
        return {**self._secret, "token": token} if token else dict(self._secret)

    def _refused(self, body: dict[str, Any]) -> ConnectorAuthError:
        error = str(body.get("error", "unknown"))
        detail = str(body.get("error_description", "")).split("\n")[0][:200]
        if error == "invalid_grant" and self._refresh_token:
            return ConnectorAuthError(
                f"the refresh token for {self._owner} was revoked or has expired ({detail}): reconnect the mailbox "
                "with `tiegraph mailboxes add` and sign in to Microsoft again"
            )
        if error in {"invalid_client", "unauthorized_client"}:
            return ConnectorAuthError(
                f"Microsoft refused app {self._client_id} in directory {self._directory} ({error}: {detail}): check "
                "the client id and secret in Entra ID (secrets expire), then update the mailbox with "
                "`tiegraph mailboxes add`"
            )
        return ConnectorAuthError(f"Microsoft refused a token for {self._owner} ({error}: {detail})")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def retry_after_of(response: httpx.Response, default: float) -> float:
    """Retry-After in seconds (Graph sends seconds); `default` when absent or unreadable."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return default
