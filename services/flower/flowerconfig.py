"""Flower's configuration file (`--conf`, services/flower/start): what its options cannot say.

Flower 2.2 serves /metrics (Prometheus) and /logout without asking for credentials, even
with basic_auth set. Here they ask, like every other page of Flower: only /healthcheck,
and the static files of Flower's own web pages, answer without credentials.

Its /metrics also serves the queues' and the job ledger's metrics
(tasks/observability/queue_metrics.py), and its task runtime histogram gets buckets for
jobs that take minutes.
"""

from flower.views.auth import LogoutHandler
from flower.views.monitor import Metrics
from tornado.web import authenticated

from tasks.celery import app as celery_app
from tasks.observability import queue_metrics

Metrics.get = authenticated(Metrics.get)
LogoutHandler.get = authenticated(LogoutHandler.get)

queue_metrics.register(celery_app)

# flower_task_runtime_seconds: from a tenth of a second to half an hour (Prometheus's
# default buckets stop at 10 s; a supplier sync or a bulk change runs for minutes).
task_runtime_metric_buckets = [
    0.1,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1200.0,
    1800.0,
]
