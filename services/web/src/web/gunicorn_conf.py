"""gunicorn settings: `gunicorn --config python:web.gunicorn_conf "web:create_app()"`.

gunicorn itself reads WEB_CONCURRENCY (workers) and GUNICORN_CMD_ARGS.
"""

import os

bind = f"{os.environ.get('WEB_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
accesslog = "-"
errorlog = "-"
# Heroku's router gives up on a request after 30 s; finish or fail before that.
timeout = 30
graceful_timeout = 25
keepalive = 5
# Heartbeat files in memory: in a container /tmp may be on a slow overlay disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
