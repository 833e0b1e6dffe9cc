"""Settings: the one place that reads the environment (then `.env`).

Each setting is one typed field with its default and what it is for; its variable is its
name in capitals. A bad value stops the process at start-up with a ConfigError naming the
variable and what it accepts. URL forms that hosting platforms hand out are normalised
here, once. Everything else receives a Settings (`current_settings()` in an app context).
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any, Literal, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Flask, current_app
from limits import parse_many
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import NoDecode, SettingsConfigDict

from tasks.observability.logs import LogSettings

PRODUCTION = "production"
DEV_SECRET_KEY = "dev-only-secret-key-not-for-production"
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", DEV_SECRET_KEY}
# Given without a value in production, these stop the process: no silent local default.
REQUIRED_IN_PRODUCTION = ("secret_key", "database_url", "redis_url")
# Values never repeated in an error message: URLs carry passwords.
SENSITIVE = ("URL", "PASSWORD", "SECRET")


class ConfigError(RuntimeError):
    """The environment does not describe a runnable configuration."""


def normalize_database_url(url: str) -> str:
    """Point every PostgreSQL URL form (Heroku's postgres:// too) at the one driver we ship."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("must be a URL such as postgresql://user:pass@host/db")
    if scheme in {"postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"}:
        return f"postgresql+psycopg2://{rest}"
    raise ValueError(f"must be a PostgreSQL URL, not {scheme}://")


def redis_url(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme not in {"redis", "rediss"}:
        raise ValueError(f"must start with redis:// or rediss://, not {scheme}://")
    return url


def with_certificate_checking(url: str, ssl_cert_reqs: str) -> str:
    """Celery insists that a rediss:// URL says how to check the server's certificate (Heroku
    Redis presents a self-signed one: REDIS_SSL_CERT_REQS=none)."""
    parts = urlsplit(url)
    if parts.scheme != "rediss":
        return url
    query = dict(parse_qsl(parts.query))
    query.setdefault("ssl_cert_reqs", ssl_cert_reqs)
    return urlunsplit(parts._replace(query=urlencode(query)))


def one_rate(limit: str) -> str:
    try:
        (rate,) = parse_many(limit)
    except ValueError:
        rate = None
    if rate is None or rate.amount < 1:
        raise ValueError("must be one rate such as 20/second or 600/minute")
    return limit


def rates(limit: str) -> str:
    try:
        parse_many(limit)
    except ValueError:
        raise ValueError("must be rates such as 30/minute or 10/second;100/hour") from None
    return limit


def one_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be one line")
    return value


def sentry_dsn(dsn: str) -> str:
    # sentry-sdk's own parser, imported only when a DSN is given.
    from sentry_sdk.utils import BadDsn, Dsn

    try:
        Dsn(dsn)
    except BadDsn as error:
        raise ValueError(
            f"must be a Sentry DSN such as https://<key>@<host>/<project>: {error}"
        ) from None
    return dsn


def comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


DatabaseUrl = Annotated[str, AfterValidator(normalize_database_url)]
RedisUrl = Annotated[str, AfterValidator(redis_url)]
SentryDsn = Annotated[str, AfterValidator(sentry_dsn)]
Seconds = Annotated[float, Field(ge=0)]
Positive = Annotated[int, Field(ge=1)]


class Settings(LogSettings):
    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    app_env: Literal["development", "test", "production"] = Field(
        PRODUCTION, description="development, test or production (secrets required, checked)"
    )
    secret_key: SecretStr = Field(SecretStr(DEV_SECRET_KEY), description="Flask's secret key")
    database_url: DatabaseUrl = Field(
        "postgresql://postgres@127.0.0.1:5432/products",
        description="PostgreSQL; postgres://, postgresql:// and postgresql+psycopg2:// all work",
    )
    redis_url: RedisUrl = Field(
        "redis://127.0.0.1:6379/0", description="Redis: Celery's broker and result backend"
    )
    celery_broker_url: RedisUrl | None = Field(None, description="The broker, if not REDIS_URL")
    celery_result_backend: RedisUrl | None = Field(
        None, description="The result backend, if not REDIS_URL"
    )
    redis_ssl_cert_reqs: Literal["required", "optional", "none"] = Field(
        "required", description="Certificate checking for rediss:// URLs (Heroku Redis: none)"
    )
    database_timeout: Seconds = Field(
        30.0, description="Longest wait on PostgreSQL per operation, outside requests (0: none)"
    )
    redis_timeout: Seconds = Field(
        5.0, description="Longest wait on Redis per operation, outside requests (0: none)"
    )
    api_dependency_timeout: Annotated[float, Field(gt=0)] = Field(
        1.0, description="Longest an API request waits on PostgreSQL, and on Redis, in all"
    )
    max_content_length: Positive = Field(
        1024 * 1024, description="Largest request body the API accepts, in bytes"
    )
    celery_task_time_limit: Positive = Field(
        360, description="Hard time limit of every task, in seconds (then it is killed)"
    )
    celery_task_soft_time_limit: Positive | None = Field(
        None, description="Soft time limit (the task is told); default: 5/6 of the hard one"
    )
    celery_worker_soft_shutdown_timeout: Seconds = Field(
        20.0, description="Seconds running tasks get on shutdown before going back to the queue"
    )
    celery_imports: Annotated[list[str], NoDecode, BeforeValidator(comma_separated)] = Field(
        default_factory=list,
        description="More modules of tasks for workers to import, comma-separated",
    )
    celery_worker_prefetch_multiplier: Positive = Field(
        1, description="Messages each pool process reserves ahead (1: none waits behind a long one)"
    )
    job_max_redeliveries: Annotated[int, Field(ge=0)] = Field(
        3, description="Times a job's message may come back from a dead worker before it is dead"
    )
    retry_max_attempts: Annotated[int, Field(ge=0)] = Field(
        8, description="Retries of a transient failure before the job is dead"
    )
    retry_backoff: Positive = Field(
        2, description="First retry's mean delay in seconds, doubling each time (full jitter)"
    )
    retry_backoff_max: Positive = Field(300, description="Longest delay between retries, seconds")
    bulk_chunk_size: Positive = Field(
        10_000, description="Rows per transaction (and checkpoint) of a bulk price change"
    )
    job_stuck_after: Positive = Field(
        600, description="Seconds a queued job may wait untouched before beat publishes it again"
    )
    beat_requeue_interval: Annotated[float, Field(gt=0)] = Field(
        300.0, description="Seconds between beat's searches for lost jobs"
    )
    job_retention_days: Positive = Field(
        30, description="Days succeeded and cancelled jobs are kept"
    )
    beat_lock_timeout: Positive = Field(
        60, description="Seconds after the active beat is gone before a standby takes over"
    )
    beat_heartbeat_file: str = Field(
        "/tmp/products-beat.heartbeat", description="Touched by beat at each tick (its health)"
    )
    api_public_reads: bool = Field(True, description="Whether GET requests need no API key")
    api_key_cache_seconds: float = Field(
        5,
        ge=0,
        description="How long a web process trusts an API key it has checked: a revoked key "
        "is refused within this time (0: from the next request on, at a SELECT per request)",
    )
    jobs_rate_limit_per_key: Annotated[str, AfterValidator(rates)] = Field(
        "30/minute", description="Jobs one API key may start (Flask-Limiter syntax)"
    )
    jobs_rate_limit_per_address: Annotated[str, AfterValidator(rates)] = Field(
        "60/minute", description="Jobs one client address may start"
    )
    alert_max_recipients: Positive = Field(100, description="Recipients per product alert")
    trusted_proxies: Annotated[int, Field(ge=0)] = Field(
        0, description="Proxies in front whose X-Forwarded-For to trust (Heroku's router: 1)"
    )
    database_app_role: str | None = Field(
        None, description="Release step: the role it makes for web and workers (rows only)"
    )
    database_app_password: SecretStr | None = Field(
        None, description="Release step: that role's password"
    )
    smtp_host: str = Field("127.0.0.1", description="SMTP server for alerts")
    smtp_port: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        None, description="Its port; default 1025, 587 or 465 by SMTP_SECURITY"
    )
    smtp_security: Literal["none", "starttls", "ssl"] = Field(
        "none", description="none, starttls or ssl"
    )
    smtp_username: str | None = Field(None, description="SMTP login, if the server wants one")
    smtp_password: SecretStr | None = Field(None, description="SMTP password")
    smtp_timeout: Annotated[float, Field(gt=0)] = Field(
        10.0, description="Seconds to wait on the SMTP server per operation"
    )
    mail_from: Annotated[str, AfterValidator(one_line)] = Field(
        "Products <alerts@localhost>", description="Every alert's From header"
    )
    mail_batch_size: Positive = Field(
        20, description="Messages marked sending (committed) before the server sees them"
    )
    mail_unconfirmed: Literal["resend", "hold"] = Field(
        "resend", description="After a worker died mid-send: resend (at least once) or hold"
    )
    supplier_api_url: str = Field(
        "http://127.0.0.1:8081", description="The supplier's API: GET {url}/products/<sku>"
    )
    supplier_rate_limit: Annotated[str, AfterValidator(one_rate)] = Field(
        "20/second", description="Calls to the supplier across all workers, evenly spaced"
    )
    supplier_concurrency: Positive = Field(8, description="Supplier calls in flight per sync")
    supplier_connect_timeout: Annotated[float, Field(gt=0)] = Field(
        3.0, description="Seconds to connect to the supplier"
    )
    supplier_read_timeout: Annotated[float, Field(gt=0)] = Field(
        10.0, description="Seconds to wait for the supplier's answer"
    )
    supplier_retries: Annotated[int, Field(ge=0)] = Field(
        4, description="Retries of a supplier call (errors, timeouts, 500, 502-504, 429)"
    )
    supplier_backoff: Seconds = Field(
        0.5, description="First retry's delay in seconds, doubling, plus as much jitter"
    )
    supplier_breaker_threshold: Positive = Field(
        5, description="Connection failures in a row after which a sync stops"
    )
    supplier_batch_size: Positive = Field(
        200, description="Products fetched and saved (with the checkpoint) per batch"
    )
    sentry_dsn: SentryDsn | None = Field(
        None, description="Where 500s and failed or dead jobs are reported (unset: nowhere)"
    )

    def __init__(self, **values: Any) -> None:
        with config_errors():
            super().__init__(**values)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Self:
        """From `environ` alone, as if it were the whole environment: no .env, no os.environ."""
        values = {name.lower(): value for name, value in environ.items() if value != ""}
        with config_errors():
            return cls.model_validate(values)

    @model_validator(mode="after")
    def _production_is_explicit(self) -> Self:
        if self.app_env != PRODUCTION:
            return self
        for name in REQUIRED_IN_PRODUCTION:
            if name not in self.model_fields_set:
                raise ValueError(f"{name.upper()} must be set when APP_ENV=production")
        if self.secret_key.get_secret_value().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("SECRET_KEY is a placeholder; generate one for production")
        return self

    @property
    def broker_url(self) -> str:
        return with_certificate_checking(
            self.celery_broker_url or self.redis_url, self.redis_ssl_cert_reqs
        )

    @property
    def result_backend(self) -> str:
        return with_certificate_checking(
            self.celery_result_backend or self.redis_url, self.redis_ssl_cert_reqs
        )

    @property
    def task_soft_time_limit(self) -> int:
        hard = self.celery_task_time_limit
        return self.celery_task_soft_time_limit or hard - max(hard // 6, 1)

    @property
    def visibility_timeout(self) -> int:
        """Redis redelivers a message unacknowledged this long: it must outlast the longest
        delivery, or a running task is started twice. Every task ends by its hard time limit
        (prefork kills it; tasks on the thread pool stop at their own deadline, before the soft
        limit), so twice the hard limit leaves room for a worker that is slow to ack."""
        return self.celery_task_time_limit * 2

    @property
    def smtp_port_or_default(self) -> int:
        return self.smtp_port or {"none": 1025, "starttls": 587, "ssl": 465}[self.smtp_security]

    def for_api(self) -> Self:
        """The settings of the web process: a request waits on PostgreSQL at most
        API_DEPENDENCY_TIMEOUT in all, and on Redis about as long (a try and one retry)."""
        return self.model_copy(
            update={
                "database_timeout": self.api_dependency_timeout,
                "redis_timeout": self.api_dependency_timeout / 2,
            }
        )

    def redis_timeouts(self, *names: str) -> dict[str, float]:
        """redis-py's socket timeouts under the names a client takes them by (none if 0)."""
        return {name: self.redis_timeout for name in names} if self.redis_timeout else {}


def current_settings(app: Flask | None = None) -> Settings:
    """The settings of `app`, or of the app whose context this is."""
    return (app or current_app).extensions["settings"]


@contextmanager
def config_errors() -> Iterator[None]:
    """pydantic's validation errors as a ConfigError naming each variable and its problem."""
    try:
        yield
    except ValidationError as error:
        problems = []
        for problem in error.errors():
            variable = ".".join(str(part) for part in problem["loc"]).upper()
            message = problem["msg"].removeprefix("Value error, ")
            given = problem.get("input")
            secret = any(word in variable for word in SENSITIVE)
            shown = f" (given {given!r})" if isinstance(given, str) and not secret else ""
            problems.append(f"{variable}: {message}{shown}" if variable else message)
        raise ConfigError("; ".join(problems)) from None
