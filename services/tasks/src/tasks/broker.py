"""kombu's Redis transport, with a channel that fails as a connection error once its
connection is gone, so that a worker holding a task rides out Redis dying.

Celery's `broker_transport` names this module's Transport (config.py). Out of the box a
worker crashes ("Unrecoverable error: AttributeError") when Redis dies (kill -9, a
restart) while it holds an unacknowledged task. On the connection error Celery closes the
channel; kombu's close stops at its first Redis error, before the channel is marked
closed, and Celery then drops the transport. What the old channel does next (closing
again and handing the task back, or acknowledging the task once it ends) looks for the
transport, finds None, and raises an AttributeError, which ends the worker where a
connection error would have been logged and the worker would have reconnected.
"""

from typing import Any

from kombu.transport import redis
from redis import exceptions


class Channel(redis.Channel):
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
