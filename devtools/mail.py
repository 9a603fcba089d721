"""Real mail servers for `make run` and the tests: Mailpit (built from the Go module proxy into
``.cache/``, SMTP and a web UI with an API) and an in-process aiosmtpd server (``SmtpSink``)
whose replies a test can choose. Nothing here is a fake of the mail client: the notification
service talks SMTP to them as to a production relay.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

MAILPIT_VERSION = "v1.33.1"
ROOT = Path(__file__).resolve().parents[1]
MAILPIT = ROOT / ".cache" / f"mailpit-{MAILPIT_VERSION}" / "mailpit"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def build_mailpit() -> Path | None:
    """The Mailpit binary, built once per machine (about a minute) with Go; None without Go."""
    if MAILPIT.exists():
        return MAILPIT
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        return None
    env = {**os.environ, "GOBIN": str(MAILPIT.parent)}
    subprocess.run(
        [go, "install", f"github.com/axllent/mailpit@{MAILPIT_VERSION}"], check=True, env=env
    )
    return MAILPIT


@dataclass
class Mailpit:
    """A running Mailpit: SMTP on ``smtp_port``, web UI and API at ``url``."""

    process: subprocess.Popen[bytes]
    smtp_port: int
    ui_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}", timeout=5) as answer:
            return json.load(answer)

    def summaries(self) -> list[dict[str, Any]]:
        """What the API tells of every message that arrived, newest first."""
        listed: list[dict[str, Any]] = []
        while True:
            page = self.api(f"messages?start={len(listed)}&limit=500")
            listed.extend(page["messages"])
            if not page["messages"] or len(listed) >= page["total"]:
                return listed

    def messages(self) -> list[EmailMessage]:
        """Every message that arrived, oldest first, as it was received (raw, parsed)."""
        return [self.raw(summary["ID"]) for summary in reversed(self.summaries())]

    def message_ids(self, domain: str) -> list[str]:
        """The ``Message-ID`` (without ``<>``) of every mail to an address at ``domain``."""
        return [
            summary["MessageID"].strip("<>")
            for summary in self.summaries()
            if any(to["Address"].endswith("@" + domain) for to in summary["To"])
        ]

    def raw(self, message_id: str) -> EmailMessage:
        with urllib.request.urlopen(f"{self.url}/api/v1/message/{message_id}/raw") as answer:
            return _parsed(answer.read())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_mailpit(smtp_port: int | None = None, ui_port: int | None = None) -> Mailpit | None:
    """Mailpit on the given ports (free ones when None), ready; None when it cannot be built."""
    binary = build_mailpit()
    if binary is None:
        return None
    smtp_port = smtp_port or free_port()
    ui_port = ui_port or free_port()
    process = subprocess.Popen(
        [
            str(binary),
            "--smtp",
            f"127.0.0.1:{smtp_port}",
            "--listen",
            f"127.0.0.1:{ui_port}",
            "--smtp-auth-accept-any",
            "--smtp-auth-allow-insecure",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    mailpit = Mailpit(process, smtp_port, ui_port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            mailpit.api("info")
            return mailpit
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"mailpit exited with {process.returncode}") from None
            time.sleep(0.1)
    mailpit.stop()
    raise RuntimeError("mailpit did not answer within 30 s")


def _parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


@dataclass
class SmtpSink:
    """An SMTP server in this process (aiosmtpd) keeping what it accepted; ``replies`` maps a
    recipient address to the reply its ``RCPT TO`` gets instead (``"550 5.1.1 unknown"``)."""

    port: int = field(default_factory=free_port)
    received: list[EmailMessage] = field(default_factory=list)
    replies: dict[str, str] = field(default_factory=dict)
    controller: Any = None

    def start(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    @property
    def smtp_port(self) -> int:
        return self.port

    def messages(self) -> list[EmailMessage]:
        return list(self.received)

    def message_ids(self, domain: str) -> list[str]:
        return [
            str(m["Message-ID"]).strip("<>")
            for m in self.received
            if str(m["To"]).rstrip(">").endswith("@" + domain)
        ]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        reply = self.sink.replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sink.received.append(_parsed(envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"
