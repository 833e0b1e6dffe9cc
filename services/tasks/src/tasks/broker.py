"""kombu's Redis transport, with a channel that fails as a connection error once its
connection is gone, so that a worker holding a task rides out Redis dying, and that sends
every command through one redis-py client.

Celery's `broker_transport` names this module's Transport (config.py). Out of the box a
worker crashes ("Unrecoverable error: AttributeError") when Redis dies (kill -9, a
restart) while it holds an unacknowledged task. On the connection error Celery closes the
channel; kombu's close stops at its first Redis error, before the channel is marked
closed, and Celery then drops the transport. What the old channel does next (closing
again and handing the task back, or acknowledging the task once it ends) looks for the
transport, finds None, and raises an AttributeError, which ends the worker where a
connection error would have been logged and the worker would have reconnected.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis as redis_py
from kombu.transport import redis
from redis import exceptions


class Channel(redis.Channel):
    _shared_client: redis_py.Redis | None = None

    @contextmanager
    def conn_or_acquire(self, client: redis_py.Redis | None = None) -> Iterator[redis_py.Redis]:
        """kombu builds a new redis-py client for each command it sends (a message, an
        event, an ack): a tenth of a busy worker's main process went into those clients'
        constructors. One client over the channel's pool does the same: a client takes a
        connection from the pool for each command, from any thread or greenlet."""
        if client:
            yield client
            return
        pool = self.pool  # a new one after a reconnection: a new client too
        shared = self._shared_client
        if shared is None or shared.connection_pool is not pool:
            shared = self._shared_client = self._create_client()
        yield shared

    def close(self) -> None:
        try:
            super().close()
        except self.connection_errors:
            if not self.closed:
                self._close_without_redis()
            raise

    def _close_without_redis(self) -> None:
        # Unacknowledged messages go back to their queue now if Redis answers after all;
        # otherwise they stay in Redis's unacked set, which hands them back after the
        # visibility timeout. Either way they are tried once, and never again at exit.
        self.closed = True
        try:
            if self._qos is not None:
                self._qos.restore_unacked_once()
        finally:
            self._disconnect_pools()
            self._close_clients()

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:
            # The connection this channel belonged to was closed: an acknowledgement it
            # still sends fails (and Redis redelivers after the visibility timeout).
            raise exceptions.ConnectionError("this channel's connection to Redis is closed")
        return super()._connparams(asynchronous)


class Transport(redis.Transport):
    Channel = Channel
