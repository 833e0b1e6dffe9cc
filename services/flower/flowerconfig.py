"""Flower's configuration file (`--conf`, services/flower/start): what its options cannot say.

Flower 2.2 serves /metrics (Prometheus) and /logout without asking for credentials, even
with basic_auth set. Here they ask, like every other page of Flower: only /healthcheck,
and the static files of Flower's own web pages, answer without credentials.
"""

from flower.views.auth import LogoutHandler
from flower.views.monitor import Metrics
from tornado.web import authenticated

Metrics.get = authenticated(Metrics.get)
LogoutHandler.get = authenticated(LogoutHandler.get)
