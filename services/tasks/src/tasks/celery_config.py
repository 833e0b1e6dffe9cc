"""The Celery configuration, built from the settings: every Celery option of the stack.
https://docs.celeryq.dev/en/stable/userguide/configuration.html"""

import pkgutil
from pathlib import Path
from typing import Any

from tasks.settings import Settings

# The slow work, one module per kind: every module of this package is imported by workers,
# named here rather than imported, so that a kind of work is added by adding its module.
WORK_PACKAGE = Path(__file__).parent / "work"


def celery_config(settings: Settings) -> dict[str, Any]:
    redis_timeouts = settings.redis_timeouts
    return {
        "broker_url": settings.broker_url,
        # kombu's Redis transport, with a channel that survives Redis dying under a worker
        # that holds a task (tasks/broker.py).
        "broker_transport": "tasks.broker:Transport",
        "result_backend": settings.result_backend,
        "broker_connection_retry_on_startup": True,
        # A worker keeps trying to reach Redis for as long as it is down.
        "broker_connection_max_retries": None,
        "broker_connection_timeout": settings.redis_timeout or 4,
        # JSON only: a pickle payload from the broker would be code execution.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        # Tasks that need a result say so (ignore_result=False); a job's is on its row.
        "task_ignore_result": True,
        "result_expires": 24 * 3600,
        "result_extended": True,
        # A task is acknowledged after it ran, and handed back if its worker dies mid-way.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # Messages each pool process reserves: 1 keeps none waiting behind a long task (nor
        # stuck with a worker killed outright until the visibility timeout); more is faster
        # for short tasks (README, Performance).
        # https://docs.celeryq.dev/en/stable/userguide/optimizing.html#prefetch-limits
        "worker_prefetch_multiplier": settings.celery_worker_prefetch_multiplier,
        # On SIGQUIT (REMAP_SIGTERM=SIGQUIT in the image: docker stop, Heroku's SIGTERM)
        # running tasks get this long, then go back to the queue, well inside the 30 s
        # before Heroku kills the dyno.
        # https://docs.celeryq.dev/en/stable/userguide/workers.html#soft-shutdown
        "worker_soft_shutdown_timeout": settings.celery_worker_soft_shutdown_timeout,
        # Idle too: an idle worker may hold retries due later (ETA), which the soft
        # shutdown gives time to go back to Redis.
        # https://docs.celeryq.dev/en/stable/userguide/configuration.html#worker-enable-soft-shutdown-on-idle
        "worker_enable_soft_shutdown_on_idle": True,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.celery_task_time_limit,
        "imports": [
            *(f"tasks.work.{module.name}" for module in pkgutil.iter_modules([str(WORK_PACKAGE)])),
            *settings.celery_imports,
        ],
        # The retry policy of tasks that retry (autoretry_for) and declare no numbers of
        # their own: tasks.app.FlaskTask reads these (Celery's Task.from_config).
        "task_max_retries": settings.retry_max_attempts,
        "task_retry_backoff": settings.retry_backoff,
        "task_retry_backoff_max": settings.retry_backoff_max,
        # https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout,
            # Sweep for messages of dead workers every 10 s (kombu's default: ~100 s).
            "unacked_restore_interval": 10,
            "unacked_restore_throttle": 1,
            # A sweep cut off by a Redis outage leaves its lock until it expires (kombu: 300 s).
            # https://docs.celeryq.dev/projects/kombu/en/stable/reference/kombu.transport.redis.html
            "unacked_mutex_expire": 20,
            # So that a sweep (3 round trips a message) ends well within that lock's expiry.
            "unacked_restore_limit": 100,
            # Without a socket timeout a hung Redis (paused, or packets dropped) blocks a
            # publish for ever; the connect timeout alone covers only a dead one.
            **redis_timeouts("socket_timeout", "socket_connect_timeout"),
        },
        **redis_timeouts("redis_socket_timeout", "redis_socket_connect_timeout"),
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
        # until the first has been gone for BEAT_LOCK_TIMEOUT seconds.
        # https://redbeat.readthedocs.io/en/latest/config.html
        "beat_scheduler": "tasks.beat.ResilientRedBeatScheduler",
        "beat_schedule": beat_schedule(settings),
        "beat_max_loop_interval": min(5, settings.beat_lock_timeout // 2 or 1),
        "redbeat_redis_url": settings.broker_url,
        "redbeat_redis_options": redis_timeouts("socket_timeout", "socket_connect_timeout"),
        "redbeat_lock_timeout": settings.beat_lock_timeout,
        "task_track_started": True,
        "task_send_sent_event": True,
        "worker_send_task_events": True,
        # Task events sent in batches a tenth of a second apart (tasks/worker_events.py).
        "worker_consumer": "tasks.worker_events:Consumer",
    }


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "requeue-stuck-jobs": {
            "task": "tasks.requeue_stuck_jobs",
            "schedule": settings.beat_requeue_interval,
            "kwargs": {
                "older_than": settings.job_stuck_after,
                # By then Redis would have delivered the message again, had it kept it.
                "running_longer_than": settings.visibility_timeout
                + settings.celery_task_time_limit,
            },
        },
        "expire-old-jobs": {
            "task": "tasks.expire_old_jobs",
            "schedule": 3600.0,
            "kwargs": {"older_than_days": settings.job_retention_days},
        },
    }
