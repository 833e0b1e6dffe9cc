from tasks.models.job import Job, JobState
from tasks.models.product import Product

__all__ = ["Job", "JobState", "Product"]
