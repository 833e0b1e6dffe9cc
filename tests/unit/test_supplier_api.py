"""The supplier calls' retry policy, run over calls that answer or raise on cue, on a clock
that moves only when the policy sleeps: no HTTP, no waiting."""

from email.utils import formatdate

import pytest
import requests

from tasks.ratelimit import RateLimitTimeout
from tasks.work.supplier_api import retry_after, retry_policy

pytestmark = pytest.mark.unit


class Clock:
    """A monotonic clock that moves only when the policy sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def answer(status: int, retry_after: str | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


class Supplier:
    """A call that gives `outcomes` in turn (an answer to return, an error to raise), the
    last one for ever."""

    def __init__(self, *outcomes: requests.Response | Exception) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> requests.Response:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def run(supplier: Supplier, clock: Clock, retries=4, backoff=0.5, deadline=1e9):
    return retry_policy(retries, backoff, deadline, clock=clock, sleep=clock.sleep)(supplier)


@pytest.mark.parametrize(
    "error", [requests.ConnectionError(), requests.ConnectTimeout(), requests.ReadTimeout()]
)
def test_connection_errors_and_timeouts_are_retried(error):
    ok = answer(200)
    supplier = Supplier(error, ok)
    assert run(supplier, Clock()) is ok
    assert supplier.calls == 2


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_5xx_and_429_are_retried(status):
    ok = answer(200)
    supplier = Supplier(answer(status), ok)
    assert run(supplier, Clock()) is ok
    assert supplier.calls == 2


@pytest.mark.parametrize("status", [200, 400, 404, 501])
def test_other_answers_are_returned_at_once(status):
    given = answer(status)
    supplier = Supplier(given, answer(200))
    assert run(supplier, Clock()) is given
    assert supplier.calls == 1


@pytest.mark.parametrize(
    "error", [RateLimitTimeout("no slot"), requests.exceptions.InvalidURL("bad")]
)
def test_other_errors_are_raised_at_once(error):
    supplier = Supplier(error, answer(200))
    with pytest.raises(type(error)):
        run(supplier, Clock())
    assert supplier.calls == 1


def test_when_the_retries_run_out_the_last_answer_is_returned():
    last = answer(503)
    supplier = Supplier(answer(500), answer(502), answer(504), last)
    assert run(supplier, Clock(), retries=3) is last
    assert supplier.calls == 4


def test_when_the_retries_run_out_the_last_error_is_raised():
    last = requests.ReadTimeout("the last")
    supplier = Supplier(requests.ConnectionError(), last)
    with pytest.raises(requests.ReadTimeout) as raised:
        run(supplier, Clock(), retries=1)
    assert raised.value is last
    assert supplier.calls == 2


def test_the_wait_starts_at_backoff_and_doubles_plus_up_to_backoff_of_jitter():
    for _ in range(100):
        clock = Clock()
        run(Supplier(answer(500)), clock, retries=4, backoff=0.5)
        assert len(clock.slept) == 4
        for n, wait in enumerate(clock.slept):
            assert 0.5 * 2**n <= wait <= 0.5 * 2**n + 0.5


def test_the_jitter_spreads_the_waits_over_the_whole_range():
    first_waits = []
    for _ in range(200):
        clock = Clock()
        run(Supplier(answer(500)), clock, retries=1, backoff=1.0)
        first_waits.extend(clock.slept)
    assert min(first_waits) < 1.1
    assert max(first_waits) > 1.9


def test_the_wait_is_capped_at_30_seconds():
    clock = Clock()
    run(Supplier(answer(500)), clock, retries=5, backoff=10.0)
    assert 10 <= clock.slept[0] <= 20
    assert 20 <= clock.slept[1] <= 30
    assert clock.slept[2:] == [30.0, 30.0, 30.0]


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("seconds", ["0", "7", "120"])
def test_retry_after_in_seconds_is_the_wait(status, seconds):
    clock = Clock()
    run(Supplier(answer(status, seconds), answer(200)), clock)
    assert clock.slept == [float(seconds)]


def test_retry_after_as_a_date_is_the_time_until_then():
    now = 1_800_000_000.0
    assert retry_after(answer(429, formatdate(now + 12, usegmt=True)), lambda: now) == 12.0
    assert retry_after(answer(503, formatdate(now - 60, usegmt=True)), lambda: now) == 0.0


@pytest.mark.parametrize(
    "response",
    [answer(500, "7"), answer(502, "7"), answer(429, "soon"), answer(429, "-1"), answer(503)],
)
def test_without_a_retry_after_that_applies_the_wait_is_the_backoff(response):
    assert retry_after(response) is None
    clock = Clock()
    run(Supplier(response, answer(200)), clock, backoff=0.5)
    assert 0.5 <= clock.slept[0] <= 1.0


def test_no_retry_when_the_backoff_would_end_at_or_after_the_deadline():
    last = answer(503)
    clock = Clock()
    supplier = Supplier(last, answer(200))
    assert run(supplier, clock, backoff=0.5, deadline=0.5) is last
    assert supplier.calls == 1
    assert clock.slept == []


def test_no_retry_after_an_error_when_the_wait_would_pass_the_deadline():
    supplier = Supplier(requests.ConnectionError(), answer(200))
    with pytest.raises(requests.ConnectionError):
        run(supplier, Clock(), backoff=0.5, deadline=0.4)
    assert supplier.calls == 1


def test_retry_after_is_not_waited_out_to_the_deadline_or_past_it():
    for deadline, calls in [(10.0, 1), (10.001, 2)]:
        clock = Clock()
        supplier = Supplier(answer(429, "10"), answer(200))
        run(supplier, clock, deadline=deadline)
        assert supplier.calls == calls


def test_retries_go_on_while_each_wait_ends_before_the_deadline():
    last = answer(429, "2")
    clock = Clock()
    supplier = Supplier(answer(429, "2"), answer(429, "2"), last)
    assert run(supplier, clock, retries=10, deadline=5.0) is last
    assert supplier.calls == 3  # at 0, 2 and 4 s: a wait from 4 s would end at 6
    assert clock.slept == [2.0, 2.0]
