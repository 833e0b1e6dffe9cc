from typing import Any

from flask.testing import FlaskClient

from local_servers import wait_until


def wait_for_job(client: FlaskClient, location: str, states: set[str], timeout: float = 30) -> Any:
    """Poll GET `location` until the job is in one of `states`; return its last body."""

    def reached() -> Any:
        body = client.get(location).get_json()
        return body if body["state"] in states else None

    return wait_until(reached, timeout, f"{location} to reach {sorted(states)}", interval=0.1)
