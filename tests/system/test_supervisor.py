"""make run's supervisor on real processes. The clock is an argument of check(), so the
tests step through the pauses instead of waiting them out."""

import os
import signal

import psutil
import pytest

from devstack.supervisor import RestartPolicy, Supervisor
from local_servers import ProcessGroup, wait_until

pytestmark = pytest.mark.system


def exited(unit: ProcessGroup) -> None:
    wait_until(lambda: unit.exit_code() is not None, 30, f"{unit.name} to exit")


def supervised(unit: ProcessGroup) -> tuple[Supervisor, list[str]]:
    said: list[str] = []
    supervisor = Supervisor(
        RestartPolicy(first_delay=1, max_delay=30, stable_after=60), said.append
    )
    unit.start()
    supervisor.watch(unit, started_at=0)
    return supervisor, said


def test_the_pause_doubles_from_one_second_up_to_thirty():
    policy = RestartPolicy(first_delay=1, max_delay=30)
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_an_exit_is_restarted_after_a_pause_that_doubles_and_resets_after_a_stable_minute(
    tmp_path,
):
    unit = ProcessGroup("flaky", ["sh", "-c", "exit 3"], log_path=tmp_path / "flaky.log")
    supervisor, said = supervised(unit)
    exited(unit)
    first = unit.pid

    supervisor.check(now=0.5)
    assert said == ["flaky exited with code 3; restarting in 1s (restart 1)"]
    supervisor.check(now=1.4)
    assert unit.pid == first
    supervisor.check(now=1.5)
    assert unit.pid != first

    exited(unit)
    supervisor.check(now=2.0)  # half a second after its start: not well yet
    assert said[-1] == "flaky exited with code 3; restarting in 2s (restart 2)"
    supervisor.check(now=4.0)
    exited(unit)
    supervisor.check(now=5.0)
    assert said[-1] == "flaky exited with code 3; restarting in 4s (restart 3)"

    supervisor.check(now=9.0)
    exited(unit)
    supervisor.check(now=9.0 + 60)  # it ran for a minute before this exit
    assert said[-1] == "flaky exited with code 3; restarting in 1s (restart 4)"
    supervisor.stop_all()


def test_what_a_killed_process_left_running_is_gone_before_its_replacement_starts(tmp_path):
    unit = ProcessGroup(
        "parent",
        ["sh", "-c", "sleep 600 & sleep 600 & wait"],
        log_path=tmp_path / "parent.log",
    )
    supervisor, said = supervised(unit)
    leader = psutil.Process(unit.pid)

    def both_sleeps() -> list[psutil.Process] | None:
        found = leader.children()
        return found if len(found) == 2 else None

    children = wait_until(both_sleeps, 30, "both sleeps to start")
    os.kill(leader.pid, signal.SIGKILL)
    exited(unit)
    assert all(child.is_running() for child in children)

    supervisor.check(now=1.0)
    assert said == ["parent exited on SIGKILL; restarting in 1s (restart 1)"]
    assert not any(child.is_running() for child in children)

    supervisor.check(now=2.0)
    replacement = psutil.Process(unit.pid)
    family = [replacement, *replacement.children()]
    supervisor.stop_all()
    _, alive = psutil.wait_procs(family, timeout=30)
    assert alive == []


def test_a_unit_that_cannot_start_again_is_retried_with_a_longer_pause(tmp_path):
    script = tmp_path / "once"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    unit = ProcessGroup("once", [str(script)], log_path=tmp_path / "once.log")
    supervisor, said = supervised(unit)
    exited(unit)
    script.unlink()

    supervisor.check(now=0.5)
    supervisor.check(now=1.5)
    assert said[0] == "once exited with code 0; restarting in 1s (restart 1)"
    assert said[1].startswith("once could not start ([Errno 2] No such file or directory")
    assert said[1].endswith("; restarting in 2s (restart 2)")
