"""Who may do what: `Authorization: Bearer <key>`, a key's scopes, and the answers when they
do not suffice (401 without a valid key, 403 without the scope), with a WWW-Authenticate
header (RFC 6750)."""

from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn

from flask import g
from flask_httpauth import HTTPTokenAuth

from tasks.api_keys import READ, find_key
from tasks.models import ApiKey
from tasks.settings import current_settings
from web.error_handler import ApiError

REALM = "products"
auth = HTTPTokenAuth(scheme="Bearer", realm=REALM)


@auth.verify_token
def _verify(token: str) -> ApiKey | None:
    return find_key(token) if token else None


@auth.get_user_roles
def _scopes(key: ApiKey) -> list[str]:
    return key.scopes


@auth.error_handler
def _refused(status: int) -> NoReturn:
    if status == 403:
        scope = g.get("required_scope")
        challenge = f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'
        raise ApiError(
            f"this API key lacks the {scope!r} scope",
            status=403,
            code="forbidden",
            headers={"WWW-Authenticate": challenge},
        )
    if auth.get_auth() is None:
        message = "send an API key: Authorization: Bearer <key>"
        challenge = f'Bearer realm="{REALM}"'
    else:
        message = "this API key is not valid (unknown or revoked)"
        challenge = f'Bearer realm="{REALM}", error="invalid_token"'
    raise ApiError(
        message, status=401, code="unauthorized", headers={"WWW-Authenticate": challenge}
    )


def guard(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view that needs a key with `scope`; reads (`read`) need none while API_PUBLIC_READS
    is on. web.openapi.Blueprint.requires applies it, with its documentation."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        guarded = auth.login_required(role=scope)(view)

        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if scope == READ and current_settings().api_public_reads:
                return view(*args, **kwargs)
            g.required_scope = scope
            return guarded(*args, **kwargs)

        return checked

    return decorator


def current_key() -> ApiKey | None:
    """The key this request was made with, once `guard` checked it."""
    return auth.current_user()
