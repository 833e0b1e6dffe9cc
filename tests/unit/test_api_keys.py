import pytest

from tasks.api_keys import _prefix_of

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("key", "prefix"),
    [("pk_0123456789ab_se_cr-et", "0123456789ab"), ("pk_" + "a" * 16 + "_s", "a" * 16)],
)
def test_a_key_is_found_by_its_prefix(key, prefix):
    assert _prefix_of(key) == prefix


@pytest.mark.parametrize(
    "key",
    [
        "pk_0123456789ab_",
        "pk__secret",
        "pk_" + "a" * 17 + "_secret",
    ],
    ids=["no-secret", "no-prefix", "long-prefix"],
)
def test_anything_else_is_no_key(key):
    assert _prefix_of(key) is None
