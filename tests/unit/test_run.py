"""make run's own parts (devstack/run.py) that need no server."""

import stat

import pytest

from devstack.run import (
    STACK_BLOCK_END,
    STACK_BLOCK_START,
    as_app_role,
    split_env_file,
    stack_environment,
    write_stack_block,
)

pytestmark = pytest.mark.unit

USER_LINES = "# mine\nSMTP_HOST=mail.example\nDATABASE_URL=postgresql://me@db/mine\n"
URLS = {"DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/products", "REDIS_URL": "redis://:r@h/0"}
BLOCK = (
    f"{STACK_BLOCK_START}\n"
    "DATABASE_URL=postgresql://u:p@127.0.0.1:5432/products\n"
    "REDIS_URL=redis://:r@h/0\n"
    f"{STACK_BLOCK_END}\n"
)


def test_the_block_goes_first_with_the_users_lines_kept_below(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(USER_LINES)
    write_stack_block(env_file, URLS)
    assert env_file.read_text() == BLOCK + USER_LINES
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert split_env_file(env_file) == (BLOCK, USER_LINES)


def test_the_block_is_rewritten_in_place_and_removed_when_no_server_was_started(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(USER_LINES)
    write_stack_block(env_file, {"REDIS_URL": "redis://old/0"})
    write_stack_block(env_file, URLS)
    write_stack_block(env_file, URLS)
    assert env_file.read_text() == BLOCK + USER_LINES
    write_stack_block(env_file, {})
    assert env_file.read_text() == USER_LINES


@pytest.mark.parametrize(
    "text",
    [USER_LINES, f"{STACK_BLOCK_END}\n{STACK_BLOCK_START}\n", f"{STACK_BLOCK_START}\nA=1\n"],
    ids=["no-block", "end-before-start", "unended"],
)
def test_a_file_without_a_whole_block_is_all_the_users(tmp_path, text):
    env_file = tmp_path / ".env"
    env_file.write_text(text)
    assert split_env_file(env_file) == ("", text)


def test_the_environment_wins_over_env_and_makes_runs_old_servers_are_not_reused(
    tmp_path, monkeypatch
):
    (tmp_path / ".env").write_text(
        f"{STACK_BLOCK_START}\nREDIS_URL=redis://old/0\n{STACK_BLOCK_END}\n"
        "SMTP_HOST=mail.example\nPORT=9000\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("PORT", "8080")
    env = stack_environment()
    assert "REDIS_URL" not in env
    assert (env["SMTP_HOST"], env["PORT"]) == ("mail.example", "8080")


def test_web_and_workers_connect_as_the_app_role_with_no_owners_credentials():
    env = {
        "DATABASE_URL": "postgresql://owner:secret@127.0.0.1:5433/products",
        "DATABASE_APP_ROLE": "products_app",
        "DATABASE_APP_PASSWORD": "p@ss/w:rd",
    }
    assert as_app_role(env) == {
        "DATABASE_URL": "postgresql://products_app:p%40ss%2Fw%3Ard@127.0.0.1:5433/products"
    }
    given = {"DATABASE_URL": "postgresql://me@db/mine"}
    assert as_app_role(dict(given)) == given
