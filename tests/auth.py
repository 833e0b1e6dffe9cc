"""API keys for the tests: real keys, made as `flask keys create` makes them."""

from typing import Any

import requests
from flask import Flask
from flask.testing import FlaskClient

from tasks.api_keys import SCOPES, create_key


def make_key(app: Flask, *scopes: str, name: str = "tests") -> str:
    with app.app_context():
        _, key = create_key(name, scopes or SCOPES)
    return key


def with_key(client: FlaskClient, key: str) -> FlaskClient:
    """`client`, sending `key` with every request."""
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def keyed_client(app: Flask, *scopes: str) -> FlaskClient:
    """A test client of `app` with a new key (every scope unless `scopes` says)."""
    return with_key(app.test_client(), make_key(app, *scopes))


class KeyedHttp:
    """requests' functions, sending `key` with every request. Stateless (a new connection
    each time, as requests.get makes), so any number of threads may share one."""

    def __init__(self, key: str) -> None:
        self.headers = {"Authorization": f"Bearer {key}"}

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return requests.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", url, **kwargs)


def keyed_session(app: Flask, *scopes: str) -> KeyedHttp:
    """HTTP with a new key of `app`'s database (every scope unless `scopes` says)."""
    return KeyedHttp(make_key(app, *scopes))


def with_authorization(request: bytes, key: str) -> bytes:
    """A raw HTTP request with an Authorization header added after its request line."""
    line, rest = request.split(b"\r\n", 1)
    return line + b"\r\nAuthorization: Bearer " + key.encode() + b"\r\n" + rest
