"""make run's development key (devstack/run.py): kept from one start to the next, and made
again when a scope was added since it was made (the `metrics` scope, say)."""

import pytest

from devstack.run import dev_api_key
from tasks.api_keys import JOBS, READ, SCOPES, WRITE, find_key
from tests.auth import make_key

pytestmark = pytest.mark.integration


def scopes_of(app, key: str) -> set[str]:
    with app.app_context():
        return set(find_key(key).scopes)


def test_the_development_key_is_kept_and_made_again_when_it_lacks_a_scope(app, migrated, tmp_path):
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": migrated.database_url,
        "REDIS_URL": migrated.redis_url,
    }
    (tmp_path / "api-key").write_text(make_key(app, READ, WRITE, JOBS))

    renewed = dev_api_key(env, tmp_path)

    assert scopes_of(app, renewed) == set(SCOPES)
    assert dev_api_key(env, tmp_path) == renewed == (tmp_path / "api-key").read_text()
