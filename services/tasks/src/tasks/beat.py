"""RedBeat, riding out Redis outages: beat never exits because Redis blinked.

Out of the box a lock lost while Redis was unreachable (LockNotOwnedError on extend) or a
Redis error in a tick ends the beat process. Here a lost lock is taken again before anything
is sent (unless another beat holds it meanwhile: then this one stands by), and an unreachable
Redis is waited out.

The lock is taken in the scheduler's loop, without blocking, not by RedBeat's beat_init
handler (which blocks a standby beat before its loop starts). So every beat, leader or
standby, completes a tick every few seconds while Redis answers, and touches its heartbeat
file when it does: that is what its health check reads (services/worker/beat-healthcheck).
"""

import logging
import time
from pathlib import Path
from typing import Any

from celery.signals import beat_init
from redbeat import RedBeatScheduler
from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT, acquire_distributed_beat_lock, get_redis
from redis.exceptions import LockError, RedisError

from tasks.settings import current_settings

log = logging.getLogger(__name__)

beat_init.disconnect(acquire_distributed_beat_lock)

# Between tries while Redis is unreachable.
RETRY_INTERVAL = 2.0


class ResilientRedBeatScheduler(RedBeatScheduler):
    def setup_schedule(self) -> None:
        while True:
            try:
                return super().setup_schedule()
            except RedisError as error:
                log.warning("beat: Redis unavailable at start-up (%s); retrying", error)
                time.sleep(RETRY_INTERVAL)

    def tick(self, min: Any = min, **kwargs: Any) -> float:
        try:
            if self.lock_key and not self._holds_lock():
                self._beat()
                return self.max_interval
            interval = super().tick(min=min, **kwargs)
            self._beat()
            return interval
        except LockError:
            log.warning(
                "beat: lost the lock (Redis was unreachable for longer than the lock "
                "timeout); sending nothing until it is taken again"
            )
            self.lock = None
            return RETRY_INTERVAL
        except RedisError as error:
            log.warning("beat: Redis unavailable (%s); retrying in %gs", error, RETRY_INTERVAL)
            return RETRY_INTERVAL

    def _holds_lock(self) -> bool:
        """Whether this beat holds the lock, taking it if it is free."""
        if self.lock is not None:
            return True
        client = get_redis(self.app)
        lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=self.max_interval)
        # RedBeat's own extend script: extend *to* the timeout, not by it.
        lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)
        if not lock.acquire(blocking=False):
            return False
        log.info("beat: acquired lock")
        self.lock = lock
        return True

    def _beat(self) -> None:
        Path(current_settings(self.app.flask_app).beat_heartbeat_file).touch()
