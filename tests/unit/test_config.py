import pytest

from tasks.config import ConfigError, Settings, normalize_database_url, normalize_redis_url

pytestmark = pytest.mark.unit

PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "a-real-secret-of-decent-length",
    "DATABASE_URL": "postgres://u:p@db.example:5432/app",
    "REDIS_URL": "redis://:pw@redis.example:6379/0",
}


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p@host:5432/db",
        "postgresql://u:p@host:5432/db",
        "postgresql+psycopg2://u:p@host:5432/db",
        "postgresql+psycopg://u:p@host:5432/db",
    ],
)
def test_every_postgres_url_form_uses_psycopg2(url):
    assert normalize_database_url(url) == "postgresql+psycopg2://u:p@host:5432/db"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "sqlite:///x.db", "not a url"])
def test_other_databases_are_refused(url):
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        normalize_database_url(url)


def test_rediss_gets_certificate_checking_that_celery_insists_on():
    assert normalize_redis_url("rediss://:pw@h:6380/0", "none") == (
        "rediss://:pw@h:6380/0?ssl_cert_reqs=none"
    )
    assert normalize_redis_url("rediss://h:6380/0?ssl_cert_reqs=required", "none").endswith(
        "ssl_cert_reqs=required"
    )
    assert normalize_redis_url("redis://h:6379/1") == "redis://h:6379/1"


def test_redis_url_sets_broker_and_results_each_overridable():
    settings = Settings.from_env(PRODUCTION)
    assert settings.broker_url == settings.result_backend == PRODUCTION["REDIS_URL"]
    overridden = Settings.from_env({**PRODUCTION, "CELERY_RESULT_BACKEND": "redis://other:6379/2"})
    assert overridden.broker_url == PRODUCTION["REDIS_URL"]
    assert overridden.result_backend == "redis://other:6379/2"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL"])
def test_production_requires_each_setting(missing):
    environ = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        Settings.from_env(environ)


def test_production_refuses_a_placeholder_secret():
    with pytest.raises(ConfigError, match="placeholder"):
        Settings.from_env({**PRODUCTION, "SECRET_KEY": "changeme"})


def test_development_has_local_defaults():
    settings = Settings.from_env({"APP_ENV": "development"})
    assert settings.database_url.startswith("postgresql+psycopg2://")
    assert settings.broker_url.startswith("redis://127.0.0.1:6379")


def test_unknown_environment_is_refused():
    with pytest.raises(ConfigError, match="APP_ENV"):
        Settings.from_env({"APP_ENV": "staging"})


def test_celery_accepts_json_only_and_hands_back_work_of_dead_workers():
    conf = Settings.from_env(PRODUCTION).celery_config()
    assert conf["accept_content"] == ["json"]
    assert conf["result_accept_content"] == ["json"]
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["broker_transport_options"]["visibility_timeout"] > conf["task_time_limit"]


def test_a_heroku_rediss_url_reaches_every_redis_client_with_its_certificate_setting():
    import ssl

    import redis
    from limits.storage import RedisStorage

    settings = Settings.from_env(
        {**PRODUCTION, "REDIS_URL": "rediss://:pw@ec2.example:6380", "REDIS_SSL_CERT_REQS": "none"}
    )
    conf = settings.celery_config()
    assert conf["broker_url"] == conf["result_backend"] == conf["redbeat_redis_url"]
    # The readiness probe's and the supplier rate limit's clients, from the same URL.
    pool = redis.Redis.from_url(conf["broker_url"]).connection_pool
    assert pool.connection_class is redis.SSLConnection
    assert pool.connection_kwargs["ssl_cert_reqs"] in ("none", ssl.CERT_NONE)
    RedisStorage(conf["broker_url"])  # Flask-Limiter's storage accepts it without connecting


def test_a_mail_from_with_a_line_break_is_refused():
    with pytest.raises(ConfigError, match="MAIL_FROM"):
        Settings.from_env({**PRODUCTION, "MAIL_FROM": "a@example.com\r\nBcc: x@example.com"})


@pytest.mark.parametrize("rate", ["fast", "0/second", "20/second;600/minute", ""])
def test_a_supplier_rate_limit_that_is_not_one_rate_is_refused(rate):
    with pytest.raises(ConfigError, match="SUPPLIER_RATE_LIMIT"):
        Settings.from_env({**PRODUCTION, "SUPPLIER_RATE_LIMIT": rate})
