"""Seeing inside the running stack, each in a module of its own:

- logs: one logging set-up for every process, JSON lines or text, naming what they are about;
- ids: the request, job, task and trace a process is working for, for logs, reports, spans;
- received_ids: the ids of each message a worker receives, for its "received" line;
- tracing: OpenTelemetry, on when OTEL_EXPORTER_OTLP_ENDPOINT is set;
- error_reports: Sentry, on when SENTRY_DSN is set;
- process_start: what starts those two in each process, after any fork;
- queue_metrics: the queues' and the job ledger's gauges, which Flower's /metrics serves.

Nothing is imported here: gunicorn's master imports the logging set-up alone.
"""
