import pytest

from tasks.celery_config import celery_config
from tasks.settings import (
    ConfigError,
    Settings,
    normalize_database_url,
    with_certificate_checking,
)

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


@pytest.mark.parametrize("url", ["mysql://u:secret@h/db", "sqlite:///x.db", "not a url"])
def test_other_databases_are_refused_naming_the_variable_not_its_password(url):
    with pytest.raises(ConfigError, match="DATABASE_URL") as refused:
        Settings.from_environ({**PRODUCTION, "DATABASE_URL": url})
    assert "secret" not in str(refused.value)


def test_rediss_gets_certificate_checking_that_celery_insists_on():
    assert with_certificate_checking("rediss://:pw@h:6380/0", "none") == (
        "rediss://:pw@h:6380/0?ssl_cert_reqs=none"
    )
    assert with_certificate_checking("rediss://h:6380/0?ssl_cert_reqs=required", "none").endswith(
        "ssl_cert_reqs=required"
    )
    assert with_certificate_checking("redis://h:6379/1", "none") == "redis://h:6379/1"


def test_a_redis_url_of_another_scheme_is_refused():
    with pytest.raises(ConfigError, match="REDIS_URL: must start with redis:// or rediss://"):
        Settings.from_environ({**PRODUCTION, "REDIS_URL": "http://h:6379"})


def test_redis_url_sets_broker_and_results_each_overridable():
    settings = Settings.from_environ(PRODUCTION)
    assert settings.broker_url == settings.result_backend == PRODUCTION["REDIS_URL"]
    overridden = Settings.from_environ(
        {**PRODUCTION, "CELERY_RESULT_BACKEND": "redis://other:6379/2"}
    )
    assert overridden.broker_url == PRODUCTION["REDIS_URL"]
    assert overridden.result_backend == "redis://other:6379/2"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL"])
def test_production_requires_each_setting(missing):
    environ = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        Settings.from_environ(environ)


def test_production_refuses_a_placeholder_secret():
    with pytest.raises(ConfigError, match="placeholder"):
        Settings.from_environ({**PRODUCTION, "SECRET_KEY": "changeme"})


def test_development_has_local_defaults():
    settings = Settings.from_environ({"APP_ENV": "development"})
    assert settings.database_url.startswith("postgresql+psycopg2://")
    assert settings.broker_url.startswith("redis://127.0.0.1:6379")


def test_unknown_environment_is_refused():
    with pytest.raises(ConfigError, match="APP_ENV"):
        Settings.from_environ({"APP_ENV": "staging"})


def test_celery_accepts_json_only_and_hands_back_work_of_dead_workers():
    conf = celery_config(Settings.from_environ(PRODUCTION))
    assert conf["accept_content"] == ["json"]
    assert conf["result_accept_content"] == ["json"]
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    transport = conf["broker_transport_options"]
    assert transport["visibility_timeout"] > conf["task_time_limit"]
    # A sweep's lock outlasts a sweep interval, and one left by an outage holds messages of
    # dead workers back far less than the visibility timeout does.
    assert (
        transport["unacked_restore_interval"]
        < transport["unacked_mutex_expire"]
        < transport["visibility_timeout"]
    )


def test_a_heroku_rediss_url_reaches_every_redis_client_with_its_certificate_setting():
    import ssl

    import redis
    from limits.storage import RedisStorage

    settings = Settings.from_environ(
        {**PRODUCTION, "REDIS_URL": "rediss://:pw@ec2.example:6380", "REDIS_SSL_CERT_REQS": "none"}
    )
    conf = celery_config(settings)
    assert conf["broker_url"] == conf["result_backend"] == conf["redbeat_redis_url"]
    # The readiness probe's and the supplier rate limit's clients, from the same URL.
    pool = redis.Redis.from_url(conf["broker_url"]).connection_pool
    assert pool.connection_class is redis.SSLConnection
    assert pool.connection_kwargs["ssl_cert_reqs"] in ("none", ssl.CERT_NONE)
    RedisStorage(conf["broker_url"])  # Flask-Limiter's storage accepts it without connecting


def test_a_mail_from_with_a_line_break_is_refused():
    with pytest.raises(ConfigError, match="MAIL_FROM"):
        Settings.from_environ({**PRODUCTION, "MAIL_FROM": "a@example.com\r\nBcc: x@example.com"})


@pytest.mark.parametrize("rate", ["fast", "0/second", "20/second;600/minute"])
def test_a_supplier_rate_limit_that_is_not_one_rate_is_refused(rate):
    with pytest.raises(ConfigError, match="SUPPLIER_RATE_LIMIT"):
        Settings.from_environ({**PRODUCTION, "SUPPLIER_RATE_LIMIT": rate})


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("BULK_CHUNK_SIZE", "ten", "valid integer"),
        ("BULK_CHUNK_SIZE", "0", "greater than or equal to 1"),
        ("SMTP_SECURITY", "tls", "'none', 'starttls' or 'ssl'"),
        ("MAIL_UNCONFIRMED", "maybe", "'resend' or 'hold'"),
        ("API_PUBLIC_READS", "perhaps", "valid boolean"),
        ("DATABASE_TIMEOUT", "soon", "valid number"),
        ("JOBS_RATE_LIMIT_PER_KEY", "lots", "rates such as"),
        ("SENTRY_DSN", "sentry.example.com", "Sentry DSN such as"),
        ("SENTRY_DSN", "https://o1.ingest.sentry.io/2", "Missing public key"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable_and_what_it_accepts(variable, value, accepted):
    with pytest.raises(ConfigError) as refused:
        Settings.from_environ({**PRODUCTION, variable: value})
    message = str(refused.value)
    assert message.startswith(f"{variable}: ")
    assert accepted in message
    assert repr(value) in message


def test_an_empty_value_means_the_default():
    assert Settings.from_environ({**PRODUCTION, "BULK_CHUNK_SIZE": ""}).bulk_chunk_size == 10_000


def test_the_api_waits_on_its_dependencies_for_its_own_timeout():
    api = Settings.from_environ({**PRODUCTION, "API_DEPENDENCY_TIMEOUT": "2"}).for_api()
    assert (api.database_timeout, api.redis_timeout) == (2, 1)


def test_the_soft_time_limit_defaults_below_the_hard_one():
    settings = Settings.from_environ({**PRODUCTION, "CELERY_TASK_TIME_LIMIT": "60"})
    assert settings.task_soft_time_limit == 50
    assert settings.visibility_timeout == 120


@pytest.mark.parametrize(("security", "port"), [("none", 1025), ("starttls", 587), ("ssl", 465)])
def test_the_smtp_port_follows_its_security_unless_given(security, port):
    settings = Settings.from_environ({**PRODUCTION, "SMTP_SECURITY": security})
    assert settings.smtp_port_or_default == port
    given = Settings.from_environ({**PRODUCTION, "SMTP_SECURITY": security, "SMTP_PORT": "2525"})
    assert given.smtp_port_or_default == 2525


def test_secrets_stay_out_of_reprs():
    settings = Settings.from_environ({**PRODUCTION, "SMTP_PASSWORD": "hunter2"})
    assert "hunter2" not in repr(settings)
    assert PRODUCTION["SECRET_KEY"] not in repr(settings)
