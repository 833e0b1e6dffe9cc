"""A command run as its own process group, which dies with the process that started it."""

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from local_servers.waiting import wait_until

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None]:
    """A preexec_fn: the child is sent SIGTERM when the process that started it dies.

    So a supervisor killed outright (SIGKILL, a closed terminal) leaves no server behind.
    The kernel ties this to the starting *thread*: start children from the main thread.
    """
    parent = os.getpid()

    def arrange() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return arrange


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def describe_exit(code: int) -> str:
    if code < 0:
        return f"exited on {signal.Signals(-code).name}"
    return f"exited with code {code}"


class ProcessGroup:
    """`command` in a session of its own: a terminal's Ctrl-C reaches only us, and stop()
    reaches every process it started. Its output goes to `log_path` if given, else to our
    stdout with each line prefixed by `name`. start() may be called again once it exited."""

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        log_path: Path | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
        signal_group: bool = True,
        stop_timeout: float = 20.0,
    ) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.user = user
        self.stop_signal = stop_signal
        # Servers shut their own children down; start scripts' children may need telling.
        self.signal_group = signal_group
        self.stop_timeout = stop_timeout
        self.popen: subprocess.Popen[bytes] | None = None
        # Once its group is gone its id may be reused, by anyone's process: never signal it again.
        self._group_gone = True

    def start(self) -> None:
        self._group_gone = False
        if self.log_path is None:
            self.popen = self._spawn(subprocess.PIPE)
            assert self.popen.stdout is not None
            threading.Thread(target=self._relay, args=(self.popen.stdout,), daemon=True).start()
        else:
            with self.log_path.open("ab") as log:
                self.popen = self._spawn(log)

    def _spawn(self, stdout: IO[bytes] | int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.cwd,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=self.user,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )

    def _relay(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            sys.stdout.write(f"{self.name:>8} | {line.decode(errors='replace')}")
            sys.stdout.flush()
        stream.close()

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    def exit_code(self) -> int | None:
        """None while it runs (or before it started), else how it ended."""
        return None if self.popen is None else self.popen.poll()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        """Ask it to stop, kill it after `stop_timeout`; either way, or if it had exited
        by itself, leave nothing of its group behind."""
        popen = self.popen
        if popen is None or self._group_gone:
            return
        if popen.poll() is None:
            try:
                if self.signal_group:
                    os.killpg(popen.pid, self.stop_signal)
                else:
                    popen.send_signal(self.stop_signal)
                popen.wait(self.stop_timeout)
                # The group may outlive its leader for a moment (gunicorn or Celery children).
                wait_until(lambda: not group_alive(popen.pid), self.stop_timeout, self.name)
                self._group_gone = True
                return
            except ProcessLookupError:
                pass
            except (subprocess.TimeoutExpired, TimeoutError):
                print(
                    f"{self.name} did not stop within {self.stop_timeout:g}s; killing it",
                    flush=True,
                )
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            self._group_gone = True
            return
        popen.wait()
        wait_until(lambda: not group_alive(popen.pid), self.stop_timeout, f"{self.name} to die")
        self._group_gone = True
