from collections import Counter

import pytest
from sqlalchemy import select

from local_servers import wait_until
from tasks.extensions import db
from tasks.models import OutboxMessage, Product
from tasks.settings import current_settings
from tests import processes
from tests.auth import keyed_client
from tests.integration.helpers import app_on_redis_db
from tests.waiting import wait_for_job

pytestmark = pytest.mark.integration

FINAL = {"succeeded", "failed", "dead"}


def a_product(client) -> int:
    response = client.post("/products", json={"sku": "MAIL-1", "name": "Lamp", "price": "30.00"})
    return response.get_json()["id"]


def alert(client, product_id: int, recipients: list[str]) -> str:
    response = client.post(
        f"/products/{product_id}/alerts",
        json={"reason": "price_drop", "recipients": recipients},
    )
    assert response.status_code == 202, response.get_json()
    return response.headers["Location"]


def people(n: int) -> list[str]:
    return [f"person{i}@example.com" for i in range(n)]


def assert_each_sent_once(smtp, location: str, recipients: list[str]) -> None:
    received = smtp.received_for(location.rsplit("/", 1)[1])
    assert Counter(r.message_id for r in received).most_common(1)[0][1] == 1, "a duplicate"
    assert sorted(to for r in received for to in r.recipients) == sorted(recipients)


def outbox_states(app) -> Counter:
    with app.app_context():
        return Counter(db.session.scalars(select(OutboxMessage.state)))


def test_every_recipient_gets_one_message_over_one_connection(app, client, smtp, worker):
    location = alert(client, a_product(client), people(5))
    # Recorded by the API with the job, before its 202 (whatever the worker has done since).
    assert outbox_states(app).total() == 5
    done = wait_for_job(client, location, FINAL)
    assert done["state"] == "succeeded", done
    assert done["result"] == {"pending": 0, "sending": 0, "sent": 5, "failed": 0, "held": 0}
    assert_each_sent_once(smtp, location, people(5))
    assert smtp.sessions == 1
    assert smtp.received[0].subject == "Price drop: Lamp is now 30.00"


def test_every_message_is_sent_once_when_the_server_is_down_for_a_while(client, smtp, worker):
    smtp.stop()
    location = alert(client, a_product(client), people(4))
    wait_until(
        lambda: "cannot reach" in (client.get(location).get_json()["error"] or ""),
        30,
        "a failed attempt while the server is down",
    )
    smtp.start()
    done = wait_for_job(client, location, FINAL)
    assert done["state"] == "succeeded", done
    assert done["attempts"] >= 2
    assert_each_sent_once(smtp, location, people(4))


def test_busy_replies_and_a_stalled_server_are_retried(client, smtp, worker):
    smtp.busy_replies = 2
    smtp.stall_seconds = 6  # longer than the worker's SMTP_TIMEOUT (5 s)
    location = alert(client, a_product(client), people(3))
    wait_until(
        lambda: client.get(location).get_json()["attempts"] >= 2, 30, "a retry after timing out"
    )
    smtp.stall_seconds = 0
    done = wait_for_job(client, location, FINAL)
    assert done["state"] == "succeeded", done
    assert smtp.busy_replies == 0
    assert_each_sent_once(smtp, location, people(3))


def test_a_permanent_refusal_fails_that_message_at_once_and_no_other(app, client, smtp, worker):
    smtp.unknown_recipients = {"person1@example.com"}
    location = alert(client, a_product(client), people(3))
    done = wait_for_job(client, location, FINAL)
    assert done["state"] == "failed"
    assert done["attempts"] == 1
    assert "of 3 messages, 1 were refused for good" in done["error"]
    assert outbox_states(app) == {"sent": 2, "failed": 1}
    assert_each_sent_once(smtp, location, ["person0@example.com", "person2@example.com"])


def test_when_retries_run_out_the_job_is_dead_and_can_be_retried(client, smtp, worker):
    smtp.stop()
    location = alert(client, a_product(client), people(2))
    dead = wait_for_job(client, location, FINAL, timeout=60)
    assert dead["state"] == "dead"
    assert dead["attempts"] == 6  # the first try and RETRY_MAX_ATTEMPTS=5 retries
    assert "cannot reach" in dead["error"]
    assert client.get("/jobs?state=dead").get_json()["total"] == 1

    smtp.start()
    assert client.post(f"{location}/retry").status_code == 202
    assert wait_for_job(client, location, FINAL)["state"] == "succeeded"
    assert_each_sent_once(smtp, location, people(2))


@pytest.mark.parametrize(
    "payload",
    [
        {"reason": "price_drop", "recipients": ["not-an-address"]},
        {"reason": "price_drop", "recipients": ["a@example"]},
        {"reason": "price_drop", "recipients": ["a@@example.com"]},
        {"reason": "price_drop", "recipients": ["a b@example.com"]},
        {"reason": "price_drop", "recipients": ["a@example.com\r\nBcc: victim@example.com"]},
        {"reason": "price_drop", "recipients": ["a@exa_mple.com"]},
        {"reason": "price_drop", "recipients": [f"p{n}@example.com" for n in range(101)]},
        {"reason": "price_drop", "recipients": []},
        {"reason": "spam", "recipients": ["a@example.com"]},
        {"recipients": ["a@example.com"]},
    ],
)
def test_invalid_alerts_are_a_400_and_record_nothing(app, client, payload):
    product_id = a_product(client)
    response = client.post(f"/products/{product_id}/alerts", json=payload)
    assert response.status_code == 400
    assert client.get("/jobs").get_json()["total"] == 0
    assert outbox_states(app) == {}


def test_a_subject_beyond_ascii_arrives_as_it_was_written(client, smtp, worker):
    created = client.post(
        "/products", json={"sku": "CAFE-1", "name": "Café lamp · 灯", "price": "30.00"}
    )
    location = alert(client, created.get_json()["id"], ["ann@example.com", "bob@example.com"])
    assert wait_for_job(client, location, FINAL)["state"] == "succeeded"
    assert {message.subject for message in smtp.received} == {
        "Price drop: Café lamp · 灯 is now 30.00"
    }
    assert len({message.message_id for message in smtp.received}) == 2


def test_recipients_are_capped_by_a_setting(migrated, app):
    few = app_on_redis_db(migrated, 11, ALERT_MAX_RECIPIENTS="2")
    client = keyed_client(few)
    product_id = a_product(client)
    response = client.post(
        f"/products/{product_id}/alerts",
        json={"reason": "price_drop", "recipients": ["a@example.com", "b@example.com", "c@x.org"]},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {
        "recipients": ["at most 2 recipients per alert"]
    }


@pytest.mark.parametrize("name", ["Lamp\nBcc: x@example.com", "Lamp\r", "\rLamp"])
def test_a_product_name_that_cannot_be_a_subject_line_is_refused(app, client, name):
    refused = client.post("/products", json={"sku": "NL-1", "name": name, "price": "1.00"})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["fields"] == {"name": ["must not contain line breaks"]}
    product_id = a_product(client)
    assert client.patch(f"/products/{product_id}", json={"name": name}).status_code == 400


def test_a_product_stored_with_a_line_break_gets_no_alert_until_renamed(app, client):
    product_id = a_product(client)
    with app.app_context():
        db.session.get(Product, product_id).name = "Lamp\nBcc: x@example.com"
        db.session.commit()
    response = client.post(
        f"/products/{product_id}/alerts", json={"reason": "price_drop", "recipients": ["a@x.org"]}
    )
    assert response.status_code == 409
    assert "line break" in response.get_json()["error"]["message"]
    assert outbox_states(app) == {}


def test_an_alert_for_an_unknown_product_is_a_404(client):
    response = client.post(
        "/products/999/alerts", json={"reason": "price_drop", "recipients": ["a@example.com"]}
    )
    assert response.status_code == 404


def recipients_in(app, state: str) -> set[str]:
    with app.app_context():
        return set(
            db.session.scalars(select(OutboxMessage.recipient).where(OutboxMessage.state == state))
        )


@pytest.mark.parametrize("policy", ["resend", "hold"])
def test_a_worker_killed_mid_send_loses_nothing_and_repeats_only_unconfirmed_mail(
    migrated, app, smtp, worker_settings, servers, tmp_path, policy
):
    """SMTP cannot be exactly once: a worker may die after the server took a message and
    before the `sent` mark commits. Those messages, and only those, are `sending` when it
    dies; the next delivery resends them (resend) or holds them for an operator (hold)."""
    busy = app_on_redis_db(migrated, 4)
    broker = current_settings(busy).broker_url
    settings = {
        **worker_settings,
        "CELERY_TASK_TIME_LIMIT": "6",  # visibility: 12 s
        "MAIL_UNCONFIRMED": policy,
        "MAIL_BATCH_SIZE": "5",
    }
    smtp.stall_seconds = 0.1
    first, _ = processes.start_worker(servers.database_url, broker, tmp_path, "first", **settings)
    client = keyed_client(busy)
    location = alert(client, a_product(client), people(25))
    job_id = location.rsplit("/", 1)[1]
    wait_until(lambda: len(smtp.received_for(job_id)) >= 7, 30, "the sending to be under way")
    processes.kill(first)
    unconfirmed = recipients_in(app, "sending")
    assert len(unconfirmed) <= 5  # at most one batch is ever in doubt

    second, _ = processes.start_worker(servers.database_url, broker, tmp_path, "second", **settings)
    try:
        done = wait_for_job(client, location, FINAL, timeout=60)
        if policy == "hold" and unconfirmed:
            assert done["state"] == "failed", done
            assert "held" in done["error"]
            assert recipients_in(app, "held") == unconfirmed
            received = received_by(smtp, job_id)
            assert all(received[p] == 1 for p in people(25) if p not in unconfirmed)
            assert all(received[p] <= 1 for p in unconfirmed), "held mail was sent again"
            # The operator decides: a retry sends the held messages again.
            assert client.post(f"{location}/retry").status_code == 202
            done = wait_for_job(client, location, FINAL, timeout=60)
    finally:
        processes.stop(second)
    assert done["state"] == "succeeded", done
    received = received_by(smtp, job_id)
    assert all(received[p] == 1 for p in people(25) if p not in unconfirmed), received
    assert all(1 <= received[p] <= 2 for p in unconfirmed), received


def received_by(smtp, job_id: str) -> Counter:
    return Counter(to for r in smtp.received_for(job_id) for to in r.recipients)
