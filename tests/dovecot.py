"""A real Dovecot IMAP server for the connector tests (Debian dovecot-imapd, installed by scripts/setup).

Its own config, users and Maildirs under .tiegraph/test/dovecot, loopback only, plain text on port
10143 (+ TIEGRAPH_TEST_PORT_OFFSET). Mail is loaded by APPEND, as a mail client would store it, so
the server assigns UIDs and UIDVALIDITY itself.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.stack import ROOT, test_port

DOVECOT = Path("/usr/sbin/dovecot")
_LINE_END = re.compile(rb"\r?\n")

_CONFIG = """
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = 1
mail_location = maildir:{base}/mail/%u
mail_uid = {mail_user}
mail_gid = {mail_group}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/users
}}
userdb {{
  driver = static
  args = home={base}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@dataclass
class Dovecot:
    host: str
    port: int
    base: Path

    def add_user(self, user: str, password: str) -> None:
        with (self.base / "users").open("a") as users:
            users.write(f"{user}:{{PLAIN}}{password}::::::\n")

    def start(self) -> None:
        # Dovecot daemonizes; its children would hold a captured pipe open, so it writes to a file instead.
        with (self.base / "start.log").open("ab") as start_log:
            config = str(self.base / "dovecot.conf")
            subprocess.run([str(DOVECOT), "-c", config], check=True, stdout=start_log, stderr=start_log)
        _wait_listening(self, self.base)

    def stop(self) -> None:
        """Stop the server (its IMAP sessions end with it); the mail stays for the next start."""
        _stop(self.base)

    def client(self, user: str, password: str) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        client.login(user, password)
        return client

    def load_folder(self, client: IMAPClient, folder: str, files: list[Path]) -> int:
        """APPEND each file to `folder` (created if missing) with CRLF line ends; returns how many."""
        if not client.folder_exists(folder):
            client.create_folder(folder)
        for path in files:
            client.append(folder, as_crlf(path.read_bytes()))
        return len(files)


def as_crlf(raw: bytes) -> bytes:
    # Enron files end header lines in CRLF and body lines in LF: normalise both (see shared/data/README).
    return _LINE_END.sub(b"\r\n", raw)


def _users() -> tuple[str, str, str, str]:
    """(internal user, login user, mail user, mail group): Debian's system users as root, else ourselves."""
    if os.geteuid() == 0:
        return "dovecot", "dovenull", "mail", "mail"
    me = pwd.getpwuid(os.geteuid()).pw_name
    return me, me, me, me


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    if not DOVECOT.exists():
        pytest.skip("Dovecot is not installed: run ./scripts/setup (it installs dovecot-imapd)")
    with running_dovecot() as server:
        yield server


@contextlib.contextmanager
def running_dovecot() -> Iterator[Dovecot]:
    """Start Dovecot with a fresh config and no users; stop it on exit."""
    base = ROOT / ".tiegraph" / "test" / "dovecot"
    shutil.rmtree(base, ignore_errors=True)
    for sub in ("run", "state", "mail"):
        (base / sub).mkdir(parents=True)
    internal_user, login_user, mail_user, mail_group = _users()
    if os.geteuid() == 0:
        shutil.chown(base / "mail", mail_user, mail_group)
    (base / "users").touch()
    port = test_port(10143)
    config = base / "dovecot.conf"
    config.write_text(
        _CONFIG.format(
            base=base,
            port=port,
            internal_user=internal_user,
            login_user=login_user,
            mail_user=mail_user,
            mail_group=mail_group,
        )
    )
    server = Dovecot("127.0.0.1", port, base)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _wait_listening(server: Dovecot, base: Path) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            IMAPClient(server.host, port=server.port, ssl=False, timeout=2).shutdown()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"Dovecot did not listen on {server.port}; see {base}/dovecot.log") from None
            time.sleep(0.1)


def _stop(base: Path) -> None:
    pid_file = base / "run" / "master.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
