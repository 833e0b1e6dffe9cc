"""Settings: the one place that reads the environment.

Everything else receives a `Settings` (or the Flask config built from it).
URL forms that hosting platforms hand out are normalised here, once.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dotenv import find_dotenv, load_dotenv
from limits import parse_many

from tasks import database

DEVELOPMENT = "development"
PRODUCTION = "production"
ENVIRONMENTS = (DEVELOPMENT, "test", PRODUCTION)

# What `make run` starts when DATABASE_URL / REDIS_URL are not set.
DEV_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/products"
DEV_REDIS_URL = "redis://127.0.0.1:6379/0"
DEV_SECRET_KEY = "dev-only-secret-key-not-for-production"
# Where `make run` says where its servers are (their URLs, with their passwords), in its
# data folder (DEVSTACK_DATA_DIR, .devdata beside .env by default).
STACK_ENV = "stack.env"

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", DEV_SECRET_KEY}


class ConfigError(RuntimeError):
    """The environment does not describe a runnable configuration."""


SMTP_SECURITY = ("none", "starttls", "ssl")
# What a delivery does with messages an earlier delivery handed to the server without
# recording the outcome (its worker died mid-send): send them again (at least once) or hold
# them for an operator (at most once).
MAIL_UNCONFIRMED = ("resend", "hold")


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 1025
    username: str | None = None
    password: str | None = None
    security: str = "none"
    mail_from: str = "Products <alerts@localhost>"
    timeout: float = 10.0
    unconfirmed: str = "resend"
    batch_size: int = 20

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "SmtpSettings":
        security = environ.get("SMTP_SECURITY", "none").lower()
        if security not in SMTP_SECURITY:
            raise ConfigError(f"SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}")
        unconfirmed = environ.get("MAIL_UNCONFIRMED", cls.unconfirmed).lower()
        if unconfirmed not in MAIL_UNCONFIRMED:
            raise ConfigError(f"MAIL_UNCONFIRMED must be one of {', '.join(MAIL_UNCONFIRMED)}")
        mail_from = environ.get("MAIL_FROM", cls.mail_from)
        if "\r" in mail_from or "\n" in mail_from:
            raise ConfigError("MAIL_FROM must be one line: it is every alert's From header")
        default_port = {"none": 1025, "starttls": 587, "ssl": 465}[security]
        return cls(
            host=environ.get("SMTP_HOST", cls.host),
            port=int(environ.get("SMTP_PORT", default_port)),
            username=environ.get("SMTP_USERNAME") or None,
            password=environ.get("SMTP_PASSWORD") or None,
            security=security,
            mail_from=mail_from,
            timeout=float(environ.get("SMTP_TIMEOUT", cls.timeout)),
            unconfirmed=unconfirmed,
            batch_size=int(environ.get("MAIL_BATCH_SIZE", cls.batch_size)),
        )


@dataclass(frozen=True)
class SupplierSettings:
    base_url: str = "http://127.0.0.1:8081"
    rate_limit: str = "20/second"
    concurrency: int = 8
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    retries: int = 4
    backoff: float = 0.5
    breaker_threshold: int = 5
    batch_size: int = 200

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "SupplierSettings":
        rate_limit = environ.get("SUPPLIER_RATE_LIMIT", cls.rate_limit)
        try:
            (rate,) = parse_many(rate_limit)
        except ValueError:
            rate = None
        if rate is None or rate.amount < 1:
            raise ConfigError(
                f"SUPPLIER_RATE_LIMIT must be one rate such as 20/second or 600/minute, "
                f"not {rate_limit!r}"
            )
        return cls(
            base_url=environ.get("SUPPLIER_API_URL", cls.base_url),
            rate_limit=rate_limit,
            concurrency=int(environ.get("SUPPLIER_CONCURRENCY", cls.concurrency)),
            connect_timeout=float(environ.get("SUPPLIER_CONNECT_TIMEOUT", cls.connect_timeout)),
            read_timeout=float(environ.get("SUPPLIER_READ_TIMEOUT", cls.read_timeout)),
            retries=int(environ.get("SUPPLIER_RETRIES", cls.retries)),
            backoff=float(environ.get("SUPPLIER_BACKOFF", cls.backoff)),
            breaker_threshold=int(environ.get("SUPPLIER_BREAKER_THRESHOLD", cls.breaker_threshold)),
            batch_size=int(environ.get("SUPPLIER_BATCH_SIZE", cls.batch_size)),
        )


@dataclass(frozen=True)
class Settings:
    app_env: str
    secret_key: str
    database_url: str
    broker_url: str
    result_backend: str
    max_content_length: int = 1024 * 1024
    task_soft_time_limit: int = 300
    task_time_limit: int = 360
    # How long one operation may wait on PostgreSQL / Redis before the process gives up
    # (0: no bound). API requests use api_dependency_timeout instead (see for_api).
    database_timeout: float = 30.0
    redis_timeout: float = 5.0
    api_dependency_timeout: float = 1.0
    job_max_redeliveries: int = 3
    bulk_chunk_size: int = 10_000
    # Whole seconds: Celery's backoff draws its jitter with randrange.
    retry_backoff: int = 2
    retry_backoff_max: int = 300
    retry_max_attempts: int = 8
    job_stuck_after: int = 600
    job_retention_days: int = 30
    beat_requeue_interval: float = 300.0
    beat_lock_timeout: int = 60
    beat_heartbeat_file: str = "/tmp/products-beat.heartbeat"
    soft_shutdown_timeout: float = 20.0
    prefetch_multiplier: int = 1
    # The API: whether GET needs no key; how often one key, and one client address, may
    # start jobs; recipients per alert; proxies in front whose X-Forwarded-For to trust.
    api_public_reads: bool = True
    jobs_rate_limit_per_key: str = "30/minute"
    jobs_rate_limit_per_address: str = "60/minute"
    alert_max_recipients: int = 100
    trusted_proxies: int = 0
    # The release step makes this role for web and workers (tasks/roles.py).
    database_app_role: str | None = None
    database_app_password: str | None = None
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    supplier: SupplierSettings = field(default_factory=SupplierSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        if environ is None:
            load_dotenv(dotenv := find_dotenv(usecwd=True))
            if os.environ.get("APP_ENV", PRODUCTION) == DEVELOPMENT:
                # Below the environment and .env: the servers `make run` started, if any.
                data_dir = os.environ.get("DEVSTACK_DATA_DIR") or os.path.join(
                    os.path.dirname(dotenv) or os.getcwd(), ".devdata"
                )
                load_dotenv(os.path.join(data_dir, STACK_ENV))
            environ = os.environ
        app_env = environ.get("APP_ENV", PRODUCTION)
        if app_env not in ENVIRONMENTS:
            raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {app_env!r}")
        production = app_env == PRODUCTION

        def setting(name: str, dev_default: str) -> str:
            value = environ.get(name, "").strip()
            if value:
                return value
            if production:
                raise ConfigError(f"{name} must be set when APP_ENV=production")
            return dev_default

        secret_key = setting("SECRET_KEY", DEV_SECRET_KEY)
        if production and secret_key.lower() in PLACEHOLDER_SECRETS:
            raise ConfigError("SECRET_KEY is a placeholder; generate one for production")
        cert_reqs = environ.get("REDIS_SSL_CERT_REQS", "required")
        redis_url = setting("REDIS_URL", DEV_REDIS_URL)
        hard_limit = int(environ.get("CELERY_TASK_TIME_LIMIT", "360"))
        soft_limit = hard_limit - max(hard_limit // 6, 1)
        return cls(
            app_env=app_env,
            secret_key=secret_key,
            database_url=normalize_database_url(setting("DATABASE_URL", DEV_DATABASE_URL)),
            broker_url=normalize_redis_url(
                environ.get("CELERY_BROKER_URL") or redis_url, cert_reqs
            ),
            result_backend=normalize_redis_url(
                environ.get("CELERY_RESULT_BACKEND") or redis_url, cert_reqs
            ),
            max_content_length=int(environ.get("MAX_CONTENT_LENGTH", str(1024 * 1024))),
            task_soft_time_limit=int(environ.get("CELERY_TASK_SOFT_TIME_LIMIT", str(soft_limit))),
            task_time_limit=hard_limit,
            database_timeout=float(environ.get("DATABASE_TIMEOUT", "30")),
            redis_timeout=float(environ.get("REDIS_TIMEOUT", "5")),
            api_dependency_timeout=float(environ.get("API_DEPENDENCY_TIMEOUT", "1")),
            job_max_redeliveries=int(environ.get("JOB_MAX_REDELIVERIES", "3")),
            bulk_chunk_size=int(environ.get("BULK_CHUNK_SIZE", "10000")),
            retry_backoff=int(environ.get("RETRY_BACKOFF", "2")),
            retry_backoff_max=int(environ.get("RETRY_BACKOFF_MAX", "300")),
            retry_max_attempts=int(environ.get("RETRY_MAX_ATTEMPTS", "8")),
            job_stuck_after=int(environ.get("JOB_STUCK_AFTER", "600")),
            job_retention_days=int(environ.get("JOB_RETENTION_DAYS", "30")),
            beat_requeue_interval=float(environ.get("BEAT_REQUEUE_INTERVAL", "300")),
            beat_lock_timeout=int(environ.get("BEAT_LOCK_TIMEOUT", "60")),
            beat_heartbeat_file=environ.get("BEAT_HEARTBEAT_FILE", cls.beat_heartbeat_file),
            soft_shutdown_timeout=float(environ.get("CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT", "20")),
            prefetch_multiplier=int(environ.get("CELERY_WORKER_PREFETCH_MULTIPLIER", "1")),
            api_public_reads=_flag(environ.get("API_PUBLIC_READS", "true"), "API_PUBLIC_READS"),
            jobs_rate_limit_per_key=environ.get(
                "JOBS_RATE_LIMIT_PER_KEY", cls.jobs_rate_limit_per_key
            ),
            jobs_rate_limit_per_address=environ.get(
                "JOBS_RATE_LIMIT_PER_ADDRESS", cls.jobs_rate_limit_per_address
            ),
            alert_max_recipients=int(environ.get("ALERT_MAX_RECIPIENTS", cls.alert_max_recipients)),
            trusted_proxies=int(environ.get("TRUSTED_PROXIES", cls.trusted_proxies)),
            database_app_role=environ.get("DATABASE_APP_ROLE") or None,
            database_app_password=environ.get("DATABASE_APP_PASSWORD") or None,
            smtp=SmtpSettings.from_env(environ),
            supplier=SupplierSettings.from_env(environ),
        )

    def for_api(self) -> "Settings":
        """The settings of the web process: a request waits on PostgreSQL at most
        api_dependency_timeout in all, and on Redis about as long (a try and one retry)."""
        return replace(
            self,
            database_timeout=self.api_dependency_timeout,
            redis_timeout=self.api_dependency_timeout / 2,
        )

    def flask_config(self) -> dict[str, Any]:
        return {
            "APP_ENV": self.app_env,
            "TESTING": self.app_env == "test",
            "SECRET_KEY": self.secret_key,
            "MAX_CONTENT_LENGTH": self.max_content_length,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": database.engine_options(self.database_timeout, "products"),
            "DATABASE_TIMEOUT": self.database_timeout,
            "API_PUBLIC_READS": self.api_public_reads,
            "JOBS_RATE_LIMIT_PER_KEY": self.jobs_rate_limit_per_key,
            "JOBS_RATE_LIMIT_PER_ADDRESS": self.jobs_rate_limit_per_address,
            "ALERT_MAX_RECIPIENTS": self.alert_max_recipients,
            "TRUSTED_PROXIES": self.trusted_proxies,
            "DATABASE_APP_ROLE": self.database_app_role,
            "DATABASE_APP_PASSWORD": self.database_app_password,
            "REDIS_TIMEOUT": self.redis_timeout,
            "JOB_MAX_REDELIVERIES": self.job_max_redeliveries,
            "BEAT_HEARTBEAT_FILE": self.beat_heartbeat_file,
            "BULK_CHUNK_SIZE": self.bulk_chunk_size,
            "RETRY_BACKOFF": self.retry_backoff,
            "RETRY_BACKOFF_MAX": self.retry_backoff_max,
            "RETRY_MAX_ATTEMPTS": self.retry_max_attempts,
            "SMTP": self.smtp,
            "SUPPLIER": self.supplier,
            "CELERY": self.celery_config(),
        }

    @property
    def visibility_timeout(self) -> int:
        """Redis redelivers a message unacknowledged this long: it must outlast the longest
        delivery, or a running task is started twice. Every task ends by its hard time limit
        (prefork kills it; tasks on the thread pool stop at their own deadline, before the soft
        limit), so twice the hard limit leaves room for a worker that is slow to ack."""
        return self.task_time_limit * 2

    def beat_schedule(self) -> dict[str, dict[str, Any]]:
        return {
            "requeue-stuck-jobs": {
                "task": "tasks.requeue_stuck_jobs",
                "schedule": self.beat_requeue_interval,
                "kwargs": {
                    "older_than": self.job_stuck_after,
                    # By then Redis would have delivered the message again, had it kept it.
                    "running_longer_than": self.visibility_timeout + self.task_time_limit,
                },
            },
            "expire-old-jobs": {
                "task": "tasks.expire_old_jobs",
                "schedule": 3600.0,
                "kwargs": {"older_than_days": self.job_retention_days},
            },
        }

    def celery_config(self) -> dict[str, Any]:
        # https://docs.celeryq.dev/en/stable/userguide/configuration.html
        return {
            "broker_url": self.broker_url,
            # kombu's Redis transport, with a channel that survives Redis dying under a
            # worker that holds a task (tasks/broker.py).
            "broker_transport": "tasks.broker:Transport",
            "result_backend": self.result_backend,
            "broker_connection_retry_on_startup": True,
            # A worker keeps trying to reach Redis for as long as it is down.
            "broker_connection_max_retries": None,
            "broker_connection_timeout": self.redis_timeout or 4,
            # JSON only: a pickle payload from the broker would be code execution.
            "task_serializer": "json",
            "result_serializer": "json",
            "accept_content": ["json"],
            "result_accept_content": ["json"],
            # Tasks that need a result say so (ignore_result=False); job state lives in Postgres.
            "task_ignore_result": True,
            "result_expires": 24 * 3600,
            "result_extended": True,
            # A task is acknowledged after it ran, and handed back if its worker dies mid-way.
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            # Messages each pool process reserves: 1 keeps none waiting behind a long task
            # (nor stuck with a worker killed outright until the visibility timeout); more
            # is faster for short tasks (README, Performance).
            # https://docs.celeryq.dev/en/stable/userguide/optimizing.html#prefetch-limits
            "worker_prefetch_multiplier": self.prefetch_multiplier,
            # On SIGQUIT (REMAP_SIGTERM=SIGQUIT in the image: docker stop, Heroku's SIGTERM)
            # running tasks get this long, then go back to the queue, well inside the 30 s
            # before Heroku kills the dyno.
            # https://docs.celeryq.dev/en/stable/userguide/workers.html#soft-shutdown
            "worker_soft_shutdown_timeout": self.soft_shutdown_timeout,
            # Idle too: an idle worker may hold retries due later (ETA), which the soft
            # shutdown gives time to go back to Redis.
            # https://docs.celeryq.dev/en/stable/userguide/configuration.html#worker-enable-soft-shutdown-on-idle
            "worker_enable_soft_shutdown_on_idle": True,
            "task_soft_time_limit": self.task_soft_time_limit,
            "task_time_limit": self.task_time_limit,
            # https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout
            "broker_transport_options": {
                "visibility_timeout": self.visibility_timeout,
                # Sweep for messages of dead workers every 10 s (kombu's default: ~100 s).
                "unacked_restore_interval": 10,
                "unacked_restore_throttle": 1,
                # Without a socket timeout a hung Redis (paused, or packets dropped) blocks
                # a publish for ever; the connect timeout alone covers only a dead one.
                **self._redis_timeouts("socket_timeout", "socket_connect_timeout"),
            },
            **self._redis_timeouts("redis_socket_timeout", "redis_socket_connect_timeout"),
            "result_backend_transport_options": {
                # Out of the box a dead Redis blocks a publish for ~20 s (result subscription).
                "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
            },
            "task_publish_retry_policy": {
                "max_retries": 1,
                "interval_start": 0,
                "interval_step": 0.1,
                "interval_max": 0.1,
            },
            # Work that waits on the network has its own queue, served by a thread pool
            # (services/worker/start with CELERY_QUEUES=io CELERY_POOL=threads).
            "task_routes": {"tasks.sync_products": {"queue": "io"}},
            # Beat keeps its schedule in Redis and holds a lock there: a second beat waits
            # until the first has been gone for beat_lock_timeout seconds.
            # https://redbeat.readthedocs.io/en/latest/config.html
            "beat_scheduler": "tasks.beat.ResilientRedBeatScheduler",
            "beat_schedule": self.beat_schedule(),
            "beat_max_loop_interval": min(5, self.beat_lock_timeout // 2 or 1),
            "redbeat_redis_url": self.broker_url,
            "redbeat_redis_options": self._redis_timeouts(
                "socket_timeout", "socket_connect_timeout"
            ),
            "redbeat_lock_timeout": self.beat_lock_timeout,
            "task_track_started": True,
            "task_send_sent_event": True,
            "worker_send_task_events": True,
        }

    def _redis_timeouts(self, *names: str) -> dict[str, float]:
        return {name: self.redis_timeout for name in names} if self.redis_timeout else {}


def _flag(value: str, name: str) -> bool:
    words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    try:
        return words[value.strip().lower()]
    except KeyError:
        raise ConfigError(f"{name} must be true or false, not {value!r}") from None


def normalize_database_url(url: str) -> str:
    """Point every PostgreSQL URL form at the one driver we ship, psycopg2."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError("DATABASE_URL must be a URL such as postgresql://user:pass@host/db")
    if scheme in {"postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"}:
        return f"postgresql+psycopg2://{rest}"
    raise ConfigError(f"DATABASE_URL must be a PostgreSQL URL, not {scheme}://")


def normalize_redis_url(url: str, ssl_cert_reqs: str = "required") -> str:
    """Accept redis:// and rediss://; Celery insists a rediss:// URL says how to check certificates.

    Heroku Redis uses self-signed certificates: it needs REDIS_SSL_CERT_REQS=none.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"}:
        raise ConfigError(f"REDIS_URL must start with redis:// or rediss://, not {parts.scheme}://")
    if parts.scheme == "redis":
        return url
    query = dict(parse_qsl(parts.query))
    query.setdefault("ssl_cert_reqs", ssl_cert_reqs)
    return urlunsplit(parts._replace(query=urlencode(query)))
