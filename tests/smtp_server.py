"""A real SMTP server on loopback (aiosmtpd) that can be told to misbehave."""

import asyncio
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    message_id: str
    recipients: list[str]
    subject: str


@dataclass
class SmtpServer:
    port: int
    received: list[Received] = field(default_factory=list)
    sessions: int = 0
    #: Answer the next N MAIL commands with a 4xx (try again later).
    busy_replies: int = 0
    #: Wait this long before answering each MAIL command.
    stall_seconds: float = 0.0
    #: Recipients refused for good (550).
    unknown_recipients: set[str] = field(default_factory=set)
    _controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def reset(self) -> None:
        self.received.clear()
        self.sessions = self.busy_replies = 0
        self.stall_seconds = 0.0
        self.unknown_recipients.clear()
        if self._controller is None:
            self.start()

    def received_for(self, job_id: str) -> list[Received]:
        return [r for r in self.received if r.message_id.rstrip(">").endswith(f"{job_id}@products")]

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.stall_seconds:
            await asyncio.sleep(self.stall_seconds)
        if self.busy_replies > 0:
            self.busy_replies -= 1
            return "451 4.3.2 busy, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.unknown_recipients:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        email = message_from_bytes(envelope.content, policy=policy.default)
        self.received.append(
            Received(str(email["Message-ID"]), list(envelope.rcpt_tos), str(email["Subject"]))
        )
        return "250 Message accepted"
