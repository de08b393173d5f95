"""Mailbox credentials encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256) with the deployment's key.

The key is `TIEGRAPH_SECRET_KEY` (a Fernet key). In development, where it is unset, one is generated
once into HOME/secret.key (mode 0600) so that a local registry survives restarts; production refuses
to start without the setting (see Settings).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from tiegraph.errors import TiegraphError
from tiegraph.settings import Settings

_KEY_FILE = "secret.key"
_HOW_TO_MAKE_A_KEY = (
    "make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


class SecretKeyError(TiegraphError):
    """The secret key is missing, malformed, or not the one the credentials were encrypted with."""


class SecretBox:
    """Encrypts and decrypts a mailbox's credentials (a JSON object)."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except ValueError as exc:
            raise SecretKeyError(f"TIEGRAPH_SECRET_KEY is not a Fernet key ({exc}); {_HOW_TO_MAKE_A_KEY}") from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """The configured key, or (development only) the local key file, created on first use."""
        configured = settings.secret_key.get_secret_value()
        if configured:
            return cls(configured)
        if settings.environment == "production":
            raise SecretKeyError(f"TIEGRAPH_SECRET_KEY must be set in production; {_HOW_TO_MAKE_A_KEY}")
        return cls(_local_key(settings.home / _KEY_FILE))

    def seal(self, secret: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(secret, sort_keys=True).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            value = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken as exc:
            raise SecretKeyError(
                "the stored credentials cannot be decrypted with this TIEGRAPH_SECRET_KEY "
                "(the key changed?): add the mailbox again with its credentials"
            ) from exc
        if not isinstance(value, dict):
            raise SecretKeyError("the stored credentials are not a JSON object: add the mailbox again")
        return value


def _local_key(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    # O_EXCL: two processes starting together agree on the first key written.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
