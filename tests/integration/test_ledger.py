"""The job ledger under every order in which the hooks of two deliveries of a task can run.

Celery publishes a retry's message before the first delivery's on_retry runs, and Redis
hands a message to a second worker while the first may still hold it; so the entries of two
deliveries interleave in any order that keeps each delivery's own entries in sequence. Each
scenario is run in all of those orders against the real database, and must end the same.
"""

import itertools
import uuid
from collections.abc import Callable, Iterator

import pytest

from tasks.extensions import db
from tasks.ledger import Claim
from tasks.models import Job, JobState

pytestmark = pytest.mark.integration

MAX_REDELIVERIES = 3

# An entry of a delivery: (delivery name, what it records).
Step = tuple[str, str]


def interleavings(*deliveries: list[Step]) -> Iterator[list[Step]]:
    """Every merge of the deliveries' step lists that keeps each list's own order."""
    slots = [name for steps in deliveries for name in [steps] * len(steps)]
    seen = set()
    for order in itertools.permutations(range(len(slots))):
        picks = tuple(id(slots[i]) for i in order)
        if picks in seen:
            continue
        seen.add(picks)
        cursors = {id(steps): iter(steps) for steps in deliveries}
        yield [next(cursors[pick]) for pick in picks]


def run(app, steps: list[Step], retries: dict[str, int]) -> Job:
    ledger = app.extensions["ledger"]
    with app.app_context():
        job = Job(kind="tasks.very_slow_add", arguments={})
        db.session.add(job)
        db.session.commit()
        job_id = job.id
        claimed: dict[str, Claim] = {}
        record: dict[str, Callable[[int], None]] = {
            "retry": lambda n: ledger.retrying(job_id, n, RuntimeError("busy")),
            "fail": lambda n: ledger.failed(job_id, n, RuntimeError("broken"), dead=False),
            "succeed": lambda n: ledger.succeeded(job_id, 42),
            "progress": lambda n: ledger.progress(job_id, n, 1, 2),
        }
        for name, entry in steps:
            if entry == "claim":
                claim = ledger.claim(job_id, retries[name], MAX_REDELIVERIES)
                if claim is not None:
                    claimed[name] = claim
            elif entry == "cancel":
                db.session.execute(
                    Job.__table__.update()
                    .where(Job.id == job_id, Job.state.in_(["queued", "running"]))
                    .values(state="cancelled")
                )
                db.session.commit()
            elif name in claimed:
                record[entry](claimed[name].delivery)
        return db.session.get(Job, job_id, populate_existing=True)


def orders_of(first: list[str], second: list[str]) -> list[list[Step]]:
    """The first delivery claims before the second exists; the rest interleaves freely."""
    head, *rest = [("first", entry) for entry in first]
    return [
        [head, *order] for order in interleavings(rest, [("second", entry) for entry in second])
    ]


def test_a_retry_that_is_delivered_before_on_retry_ran_still_ends_succeeded(app):
    orders = orders_of(["claim", "retry"], ["claim", "progress", "succeed"])
    assert len(orders) == 4
    for order in orders:
        job = run(app, order, {"first": 0, "second": 1})
        assert (job.state, job.result, job.attempts) == ("succeeded", 42, 2), order
        assert job.error is None


def test_a_retry_that_fails_for_good_fails_the_job_whatever_the_order(app):
    for order in orders_of(["claim", "retry"], ["claim", "fail"]):
        job = run(app, order, {"first": 0, "second": 1})
        assert (job.state, job.error) == ("failed", "RuntimeError: broken"), order


def test_an_older_delivery_that_fails_cannot_fail_a_job_a_newer_one_runs(app):
    """Redelivered while the first still ran: the first's failure says nothing of the job."""
    for order in orders_of(["claim", "fail"], ["claim", "succeed"]):
        if order.index(("first", "fail")) > order.index(("second", "claim")):
            job = run(app, order, {"first": 0, "second": 0})
            assert job.state == "succeeded", order


def test_when_either_delivery_finishes_the_work_the_job_succeeds(app):
    for order in orders_of(["claim", "succeed"], ["claim", "fail"]):
        job = run(app, order, {"first": 0, "second": 0})
        assert (job.state, job.result) == ("succeeded", 42), order
        if order.index(("first", "succeed")) < order.index(("second", "claim")):
            assert job.attempts == 1, "a delivery of a finished job is skipped"


def test_a_cancel_in_any_place_ends_cancelled_unless_the_work_was_done_before(app):
    deliveries = [("first", "claim"), ("first", "retry"), ("second", "claim")]
    for at in range(1, len(deliveries) + 1):
        order = [*deliveries[:at], ("op", "cancel"), *deliveries[at:], ("second", "succeed")]
        job = run(app, order, {"first": 0, "second": 1})
        assert job.state == "cancelled", order
        assert job.result is None


def test_a_delivery_past_the_redelivery_limit_ends_the_job_dead(app):
    claims = [("first", "claim")] * (MAX_REDELIVERIES + 2)
    job = run(app, claims, {"first": 0})
    assert job.state == JobState.DEAD
    assert job.attempts == MAX_REDELIVERIES + 2
    assert job.error.startswith(f"given up after {MAX_REDELIVERIES + 2} deliveries")


def test_claiming_an_unknown_job_finds_nothing(app):
    assert app.extensions["ledger"].claim(uuid.uuid4(), 0, MAX_REDELIVERIES) is None


@pytest.mark.parametrize("entry", ["retry", "fail", "progress"])
def test_an_older_delivery_cannot_change_a_job_a_newer_one_runs(app, entry):
    order = [("first", "claim"), ("second", "claim"), ("first", entry)]
    job = run(app, order, {"first": 0, "second": 1})
    assert (job.state, job.error, job.progress_total) == ("running", None, None)
