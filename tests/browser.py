"""Headless Chromium (Debian's `chromium`) that can reach nothing but loopback, driven over
the DevTools protocol through a pipe (--remote-debugging-pipe: no port, no client library).
"""

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests import processes

CHROMIUM = "chromium"
# Long enough for a loaded machine; a command that takes longer has hung.
COMMAND_TIMEOUT = 60
LOOPBACK = "127.0.0.1"

# Chromium reads the protocol's commands from fd 3 and writes its messages to fd 4. Popen
# keeps fds open but cannot renumber them (preexec_fn could, but is unsafe with threads),
# so a small trampoline puts them there and becomes chromium.
_ON_FDS_3_AND_4 = (
    "import os, sys\n"
    "os.dup2(int(sys.argv[1]), 3)\n"
    "os.dup2(int(sys.argv[2]), 4)\n"
    "os.execvp(sys.argv[3], sys.argv[3:])\n"
)


class DevToolsError(RuntimeError):
    pass


class DevTools:
    """One connection to the browser: commands, their answers, and every event kept."""

    def __init__(self, commands: int, messages: int, log: Path) -> None:
        self._commands = os.fdopen(commands, "wb")
        self._messages = messages
        self._log = log
        self._buffer = b""
        self._last_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session_id: str | None = None, **params: Any) -> dict[str, Any]:
        self._last_id += 1
        command: dict[str, Any] = {"id": self._last_id, "method": method, "params": params}
        if session_id:
            command["sessionId"] = session_id
        self._commands.write(json.dumps(command).encode() + b"\0")
        self._commands.flush()
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while True:
            message = self._next_message(deadline, method)
            if message.get("id") == self._last_id:
                if "error" in message:
                    raise DevToolsError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def _next_message(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select([self._messages], [], [], max(remaining, 0))
            if not readable:
                raise TimeoutError(f"chromium did not answer {waiting_for} (log: {self._log})")
            chunk = os.read(self._messages, 1 << 16)
            if not chunk:
                raise DevToolsError(f"chromium exited (log: {self._log})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        self._commands.close()
        os.close(self._messages)


class Page:
    """A tab of its own, with what it requested and which requests failed."""

    def __init__(self, devtools: DevTools) -> None:
        self._devtools = devtools
        target = devtools.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = devtools.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self._call("Network.enable")
        self._call("Page.enable")

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        return self._devtools.call(method, self._session, **params)

    def _events(self, method: str) -> list[dict[str, Any]]:
        return [
            event["params"]
            for event in self._devtools.events
            if event["method"] == method and event.get("sessionId") == self._session
        ]

    def navigate(self, url: str) -> None:
        self._call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serializable)."""
        answer = self._call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise DevToolsError(f"{expression!r}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def requested(self) -> list[str]:
        return [event["request"]["url"] for event in self._events("Network.requestWillBeSent")]

    def outside_loopback(self) -> list[str]:
        """What the page asked of any host but loopback (refused: see offline_chromium)."""
        return [
            url
            for url in self.requested()
            if urlsplit(url).scheme in {"http", "https", "ws", "wss"}
            and urlsplit(url).hostname != LOOPBACK
        ]

    def failed_requests(self) -> list[str]:
        urls = {
            event["requestId"]: event["request"]["url"]
            for event in self._events("Network.requestWillBeSent")
        }
        return [
            f"{urls.get(event['requestId'], event['requestId'])}: {event['errorText']}"
            for event in self._events("Network.loadingFailed")
        ]


def chromium_arguments(profile: Path, refusing_port: int) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",  # as root, and in containers without user namespaces
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        "--remote-debugging-pipe",
        # Offline: no name resolves but loopback's, and whatever would still go out is sent
        # to a proxy that refuses every connection.
        f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}",
        f"--proxy-server=http://{LOOPBACK}:{refusing_port}",
        f"--proxy-bypass-list={LOOPBACK}",
        "about:blank",
    ]


@contextmanager
def _refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (no one else takes it), never listening."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        yield sock.getsockname()[1]


@contextmanager
def offline_chromium(scratch: Path) -> Iterator[DevTools]:
    """Headless Chromium reaching loopback only, until the block ends; its log in `scratch`."""
    log = scratch / "chromium.log"
    commands_read, commands_write = os.pipe()
    messages_read, messages_write = os.pipe()
    with _refusing_port() as refusing_port, log.open("wb") as out:
        command = [
            sys.executable,
            "-c",
            _ON_FDS_3_AND_4,
            str(commands_read),
            str(messages_write),
            CHROMIUM,
            *chromium_arguments(scratch / "chromium-profile", refusing_port),
        ]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=(commands_read, messages_write),
            start_new_session=True,
        )
        os.close(commands_read)
        os.close(messages_write)
        devtools = DevTools(commands_write, messages_read, log)
        try:
            yield devtools
        finally:
            devtools.close()
            processes.stop(process)
