"""The shared library of the stack: configuration, data layer, Celery app and tasks."""

from tasks.factory import create_app
from tasks.work.demo import very_slow_add
from tasks.work.email_alerts import send_product_alert
from tasks.work.maintenance import expire_old_jobs, requeue_stuck_jobs
from tasks.work.price_changes import apply_price_change_task
from tasks.work.supplier_sync import sync_products_task

__all__ = [
    "apply_price_change_task",
    "create_app",
    "expire_old_jobs",
    "requeue_stuck_jobs",
    "send_product_alert",
    "sync_products_task",
    "very_slow_add",
]
