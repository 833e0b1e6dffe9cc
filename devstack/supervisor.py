"""Keeping processes running: one that exits is restarted, after a pause that grows while
it keeps exiting soon after each start."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from local_servers import describe_exit


class Unit(Protocol):
    """Something to keep running: a service's start script, or a server."""

    name: str

    def start(self) -> None: ...

    def exit_code(self) -> int | None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 1.0
    max_delay: float = 30.0
    # A unit that ran this long before it exited counts as having been well again.
    stable_after: float = 60.0

    def delay(self, exits_in_a_row: int) -> float:
        return min(self.first_delay * 2 ** (exits_in_a_row - 1), self.max_delay)


@dataclass
class Supervised:
    unit: Unit
    started_at: float
    restarts: int = 0
    exits_in_a_row: int = 0
    restart_at: float | None = None


def _say(line: str) -> None:
    print(line, flush=True)


class Supervisor:
    """Watches started units; check() notices exits and restarts what is due.

    It takes the time as an argument so that nothing here sleeps or reads a clock.
    """

    def __init__(
        self, policy: RestartPolicy | None = None, say: Callable[[str], None] = _say
    ) -> None:
        self.policy = policy or RestartPolicy()
        self.say = say
        self.supervised: list[Supervised] = []

    def watch(self, unit: Unit, started_at: float) -> None:
        self.supervised.append(Supervised(unit, started_at))

    def check(self, now: float) -> None:
        for supervised in self.supervised:
            if supervised.restart_at is None:
                code = supervised.unit.exit_code()
                if code is not None:
                    self._schedule_restart(supervised, describe_exit(code), now)
            elif now >= supervised.restart_at:
                self._restart(supervised, now)

    def stop_all(self) -> None:
        """In the reverse order of watch(): services before the servers they use."""
        for supervised in reversed(self.supervised):
            try:
                supervised.unit.stop()
            except TimeoutError as error:  # one that will not go must not keep the rest running
                self.say(f"{supervised.unit.name}: {error}")

    def _schedule_restart(self, supervised: Supervised, what: str, now: float) -> None:
        # Whatever it left running (its children, the port they hold) goes first.
        supervised.unit.stop()
        if now - supervised.started_at >= self.policy.stable_after:
            supervised.exits_in_a_row = 0
        supervised.exits_in_a_row += 1
        supervised.restarts += 1
        delay = self.policy.delay(supervised.exits_in_a_row)
        supervised.restart_at = now + delay
        self.say(
            f"{supervised.unit.name} {what}; restarting in {delay:g}s "
            f"(restart {supervised.restarts})"
        )

    def _restart(self, supervised: Supervised, now: float) -> None:
        supervised.restart_at = None
        supervised.started_at = now
        try:
            supervised.unit.start()
        except OSError as error:
            self._schedule_restart(supervised, f"could not start ({error})", now)
