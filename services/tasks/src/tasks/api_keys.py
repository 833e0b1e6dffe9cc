"""API keys: made, found, listed and revoked.

A key is `pk_<prefix>_<secret>`: the prefix finds its row, the secret proves it. Only a
SHA-256 of the whole key is kept. A key carries 256 random bits, so a fast hash is enough
(there is no password to guess); a slow one would cost every request. A web process trusts a
key it found for API_KEY_CACHE_SECONDS: that SELECT was a sixth of a job-starting request's
CPU, and a revoked key is refused within that time.
"""

import hashlib
import hmac
import secrets
import threading
from datetime import UTC, datetime, timedelta

from cachetools import TTLCache
from flask import current_app
from sqlalchemy import func, or_, select, update

from tasks.extensions import db
from tasks.models import ApiKey
from tasks.settings import current_settings

READ, WRITE, JOBS, METRICS = "read", "write", "jobs", "metrics"
# read: GET products and jobs (when reads are not public); write: create, change and
# delete products; jobs: start, retry and cancel background work; metrics: GET /metrics
# (what Prometheus scrapes).
SCOPES = (READ, WRITE, JOBS, METRICS)
KEY_PREFIX = "pk_"
# A key's last use is written at most this often: not a write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Keys one web process keeps at most: more than any deployment's keys in use at once.
CACHED_KEYS = 1024
# cachetools' caches are not thread-safe (`flask run` serves each request in a thread).
_found_lock = threading.Lock()


class KeyNotFound(LookupError):
    pass


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(name: str, scopes: tuple[str, ...] = SCOPES) -> tuple[ApiKey, str]:
    """A new key with `scopes`, committed; returns it and the key itself (shown only now)."""
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes {sorted(unknown)}; choose from {', '.join(SCOPES)}")
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(name=name, prefix=prefix, key_hash=_digest(key), scopes=sorted(set(scopes)))
    db.session.add(row)
    db.session.commit()
    return row, key


def _prefix_of(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = key.removeprefix(KEY_PREFIX).partition("_")
    return prefix if prefix and sep and secret and len(prefix) <= 16 else None


def find_key(key: str) -> ApiKey | None:
    """The unrevoked key `key` is, noting when it was used (at most once a minute); None for
    any other string. A key found in the last API_KEY_CACHE_SECONDS costs nothing; otherwise
    one SELECT, in the caller's transaction."""
    prefix = _prefix_of(key)
    if prefix is None:
        return None
    digest = _digest(key)
    found = _found_keys()
    if found is not None:
        with _found_lock:
            row = found.get(digest)
        if row is not None:
            return row
    row = db.session.scalar(
        select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
    )
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    # Kept as read: the caller looks at its scopes without asking PostgreSQL again.
    db.session.expunge(row)
    if row.last_used_at is None or row.last_used_at < datetime.now(UTC) - LAST_USED_RESOLUTION:
        db.session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == row.id,
                or_(
                    ApiKey.last_used_at.is_(None),
                    ApiKey.last_used_at < func.now() - LAST_USED_RESOLUTION,
                ),
            )
            .values(last_used_at=func.now())
        )
        db.session.commit()
    if found is not None:
        with _found_lock:
            found[digest] = row
    return row


def _found_keys() -> "TTLCache[str, ApiKey] | None":
    """This app's keys found lately, by digest; None when API_KEY_CACHE_SECONDS is 0."""
    if "api_keys" not in current_app.extensions:
        seconds = current_settings().api_key_cache_seconds
        current_app.extensions["api_keys"] = TTLCache(CACHED_KEYS, seconds) if seconds else None
    return current_app.extensions["api_keys"]


def list_keys() -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(prefix: str) -> ApiKey:
    """Revoke the key with `prefix` (with or without `pk_`); revoking it again changes nothing."""
    prefix = prefix.removeprefix(KEY_PREFIX).split("_", 1)[0]
    row = db.session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None:
        db.session.rollback()
        raise KeyNotFound(f"no key with prefix {prefix}")
    db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == row.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    db.session.commit()
    db.session.refresh(row)
    return row
