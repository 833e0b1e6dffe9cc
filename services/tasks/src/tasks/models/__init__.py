from tasks.models.job import ACTIVE_STATES, RETRYABLE_STATES, Job, JobState
from tasks.models.outbox import MessageState, OutboxMessage
from tasks.models.product import Product

__all__ = [
    "ACTIVE_STATES",
    "RETRYABLE_STATES",
    "Job",
    "JobState",
    "MessageState",
    "OutboxMessage",
    "Product",
]
