"""Headers of a task's message that the stack sets beside Celery's own."""

# Set on the message of every task started as a job: its worker keeps the job's ledger
# (tasks/job_lifecycle.py). A task sent otherwise (beat, `.delay()`) never touches the database.
JOB_HEADER = "products_job"
# The id of the HTTP request that (re)queued the job, for the worker's log lines to name.
REQUEST_ID_HEADER = "request_id"
