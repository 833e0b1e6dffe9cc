import pytest

from tasks.work.catalogue import next_range

pytestmark = pytest.mark.unit


def test_chunks_start_after_the_checkpoint_and_cover_the_scope_once_each():
    position, ranges = {"after": 0, "end": 23}, []
    while (ids := next_range(position, 5)) is not None:
        ranges.append(ids)
        position = {**position, "after": ids[1]}
    assert ranges == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 23)]


def test_work_past_its_scope_or_with_an_empty_scope_is_done():
    assert next_range({"after": 30, "end": 25}, 10) is None
    assert next_range({"after": 0, "end": 0}, 10) is None
