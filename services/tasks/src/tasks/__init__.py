"""The shared library of the stack: configuration, data layer, Celery app and tasks."""

from tasks.demo import very_slow_add
from tasks.factory import create_app

__all__ = ["create_app", "very_slow_add"]
