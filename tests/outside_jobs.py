"""A job type of the tests' own, defined outside the library's modules as a user's would be:
workers import it through CELERY_IMPORTS. Its body takes steps, reporting progress, and can be
made to hold at a gate (a file the test creates) before its steps or before it returns, and to
fail its first delivery with an error its task retries on."""

import time
from pathlib import Path
from typing import Any

from tasks import JobContext, job_task

GATE_POLL = 0.02


class Flaky(Exception):
    """Fails a first delivery; a later one passes."""


def hold(gate: str, job: JobContext, check_cancelled: bool) -> None:
    """Wait for the file `gate`, having said so in `<gate>.reached` (one line per delivery)."""
    with Path(f"{gate}.reached").open("a") as reached:
        reached.write(f"{job.delivery}\n")
    while not Path(gate).exists():
        if check_cancelled:
            job.check_cancelled()
        time.sleep(GATE_POLL)


@job_task(name="tests.take_steps", autoretry_for=(Flaky,))
def take_steps(
    job: JobContext,
    steps: int,
    before: str | None = None,
    after: str | None = None,
    flaky: bool = False,
) -> dict[str, Any]:
    """`steps` steps, each checking for a cancel and reporting progress. Holds at the gate
    `before` (checking for a cancel) and at `after` (touching no database: its last moment
    before it returns); fails its first delivery when `flaky`."""
    if before:
        hold(before, job, check_cancelled=True)
    for done in range(1, steps + 1):
        job.check_cancelled()
        job.progress(done, steps)
    if flaky and job.delivery == 1:
        raise Flaky("the first delivery fails")
    if after:
        hold(after, job, check_cancelled=False)
    return {"steps": steps, "delivery": job.delivery}
