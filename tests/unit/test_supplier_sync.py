"""The sync's tally and circuit breaker (the supplier's HTTP policy: test_supplier_api.py)."""

import threading
from decimal import Decimal

import pytest

from tasks.work.supplier_api import Offer, SupplierError, SupplierUnreachable
from tasks.work.supplier_sync import CircuitBreaker, Tally

pytestmark = pytest.mark.unit


def offer(sku: str) -> Offer:
    return Offer(sku=sku, price=Decimal("1.00"), stock=1)


def test_a_tally_counts_offers_unknown_products_and_failures():
    tally = Tally()
    tally.add([offer("A"), None, SupplierError("B: 500"), offer("C")])
    tally.add([None, SupplierUnreachable("D: refused")])
    assert tally.as_result() == {"updated": 2, "unknown": 2, "failed": 2}
    assert tally.done == 6
    assert tally.failed_skus == ("B: 500", "D: refused")


def test_a_tally_names_the_first_five_failures_only():
    tally = Tally()
    for batch in range(3):
        tally.add([SupplierError(f"{batch}-{n}") for n in range(3)])
    assert tally.failed == 9
    assert tally.failed_skus == ("0-0", "0-1", "0-2", "1-0", "1-1")


def test_a_tally_resumes_from_its_checkpoint_as_it_was():
    tally = Tally()
    tally.add([offer("A"), None, SupplierError("B: 500")])
    kept = tally.as_checkpoint()
    assert kept == {"updated": 1, "unknown": 1, "failed": 1, "failed_skus": ["B: 500"]}
    resumed = Tally.from_checkpoint(kept)
    assert resumed == tally
    resumed.add([offer("C")])
    assert resumed.as_result() == {"updated": 2, "unknown": 1, "failed": 1}
    assert Tally.from_checkpoint({}) == Tally(), "a fresh checkpoint"


@pytest.mark.parametrize(
    ("threshold", "unreachable", "opened"),
    [
        (3, [True, True], False),
        (3, [True, True, True], True),
        (3, [True, True, False, True, True], False),
        (1, [True, False, False], True),
    ],
    ids=["below", "threshold", "reset", "stays-open"],
)
def test_the_breaker_opens_after_threshold_unreachable_calls_in_a_row_and_stays_open(
    threshold, unreachable, opened
):
    breaker = CircuitBreaker(threshold)
    for outcome in unreachable:
        breaker.record(outcome)
    assert breaker.open is opened


def test_concurrent_records_lose_no_failure():
    threads, calls = 8, 2_000
    breaker = CircuitBreaker(threads * calls + 1)
    start = threading.Barrier(threads)

    def record() -> None:
        start.wait()
        for _ in range(calls):
            breaker.record(unreachable=True)

    workers = [threading.Thread(target=record) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not breaker.open
    breaker.record(unreachable=True)
    assert breaker.open
