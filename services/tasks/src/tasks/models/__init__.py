from tasks.models.api_key import ApiKey
from tasks.models.job import ACTIVE_STATES, RETRYABLE_STATES, Job, JobState
from tasks.models.outbox import MessageState, OutboxMessage
from tasks.models.product import Product

__all__ = [
    "ACTIVE_STATES",
    "RETRYABLE_STATES",
    "ApiKey",
    "Job",
    "JobState",
    "MessageState",
    "OutboxMessage",
    "Product",
]
