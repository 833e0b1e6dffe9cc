import pytest

from tasks.ledger import Claim
from tasks.models import JobState

pytestmark = pytest.mark.unit


def test_only_a_claim_that_left_its_job_running_may_run():
    runnable = [state for state in JobState if Claim(1, state, None).runnable]
    assert runnable == [JobState.RUNNING]
    # As PostgreSQL returns it: text.
    assert Claim(2, "running", {"after": 3}).runnable
    assert not Claim(4, "dead", None).runnable
