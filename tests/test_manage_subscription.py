"""POST /cancel and /resume: managing the subscription from the app (issue 12)."""

from __future__ import annotations

import pytest

from tests.lifecycle import subscription, subscription_event

CANCEL = "/api/billing/cancel"
RESUME = "/api/billing/resume"
UPDATE = "/v1/subscriptions/{subscription_exposed_id}"


@pytest.fixture
def subscriber(database, seeded_plans, send_event, use_double):
    """u1, subscribed to pro, known to us (an event at T0) and to Stripe."""
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    use_double.put_subscription(subscription())
    assert send_event(subscription_event("customer.subscription.created", at=0)).status_code == 200
    return "u1"


def _state(database):
    user = database.user("u1")
    return user["subscription_status"], user["subscription_tier"], user["cancel_at_period_end"]


def test_cancel_schedules_the_end_of_the_period(
    client, token_for, subscriber, use_double, database
):
    r = client.post(CANCEL, headers=token_for("u1"))
    assert r.status_code == 200, r.json
    assert r.json["cancel_at_period_end"] is True
    assert r.json["subscription_status"] == "active"
    assert r.json["subscription_tier"] == "pro"
    [call] = use_double.calls("POST", UPDATE)
    assert call.params == {"cancel_at_period_end": "true"}
    assert call.idempotency_key
    assert _state(database) == ("active", "pro", True)


def test_cancel_passes_the_feedback_on(client, token_for, subscriber, use_double):
    body = {"feedback": "too_expensive", "comment": "Lovely, but over budget"}
    r = client.post(CANCEL, json=body, headers=token_for("u1"))
    assert r.status_code == 200, r.json
    [call] = use_double.calls("POST", UPDATE)
    assert call.params["cancellation_details"] == body
    assert use_double.subscriptions["sub_u1"]["cancellation_details"]["feedback"] == "too_expensive"


@pytest.mark.parametrize(
    "body",
    [{"feedback": "because"}, {"reason": "x"}, {"comment": 5}, [1]],
)
def test_cancel_refuses_a_bad_body(client, token_for, subscriber, use_double, database, body):
    r = client.post(CANCEL, json=body, headers=token_for("u1"))
    assert r.status_code in (400, 422)
    assert set(r.json) == {"detail"}
    assert use_double.calls("POST", UPDATE) == []
    assert _state(database) == ("active", "pro", False)


def test_cancel_again_sends_nothing(client, token_for, subscriber, use_double):
    assert client.post(CANCEL, headers=token_for("u1")).status_code == 200
    r = client.post(CANCEL, headers=token_for("u1"))
    assert r.status_code == 200
    assert r.json["cancel_at_period_end"] is True
    assert len(use_double.calls("POST", UPDATE)) == 1


def test_cancel_without_a_subscription_is_409(client, token_for, database, use_double):
    database.add_user("u1", stripe_customer_id="cus_u1")
    r = client.post(CANCEL, headers=token_for("u1"))
    assert r.status_code == 409
    assert "checkout" in r.json["detail"]
    assert use_double.calls("POST", UPDATE) == []


def test_resume_undoes_a_scheduled_cancellation(
    client, token_for, subscriber, use_double, database
):
    assert client.post(CANCEL, headers=token_for("u1")).status_code == 200
    r = client.post(RESUME, headers=token_for("u1"))
    assert r.status_code == 200, r.json
    assert r.json["cancel_at_period_end"] is False
    calls = use_double.calls("POST", UPDATE)
    assert len(calls) == 2
    # Each change its own key: the resume is not a replay of the cancel.
    assert calls[0].idempotency_key != calls[1].idempotency_key
    assert _state(database) == ("active", "pro", False)
    # Cancelling again after resuming is a new change, not Stripe replaying the first cancel.
    assert client.post(CANCEL, headers=token_for("u1")).json["cancel_at_period_end"] is True
    keys = [call.idempotency_key for call in use_double.calls("POST", UPDATE)]
    assert len(set(keys)) == 3
    assert use_double.subscriptions["sub_u1"]["cancel_at_period_end"] is True


def test_resume_with_nothing_scheduled_sends_nothing(client, token_for, subscriber, use_double):
    r = client.post(RESUME, headers=token_for("u1"))
    assert r.status_code == 200
    assert r.json["cancel_at_period_end"] is False
    assert use_double.calls("POST", UPDATE) == []


def test_resume_an_ended_subscription_is_409(
    client, token_for, subscriber, use_double, send_event, database
):
    ended = subscription_event("customer.subscription.deleted", at=10, status="canceled")
    assert send_event(ended).status_code == 200
    r = client.post(RESUME, headers=token_for("u1"))
    assert r.status_code == 409
    assert "ended" in r.json["detail"]
    assert use_double.calls("POST", UPDATE) == []


def test_stripe_failing_changes_nothing(client, token_for, subscriber, use_double, database):
    use_double.fail_next("POST", UPDATE, 500, "api_error", "Something went wrong", times=3)
    r = client.post(CANCEL, headers=token_for("u1"))
    assert r.status_code in (502, 503, 504)
    assert set(r.json) == {"detail"}
    assert _state(database) == ("active", "pro", False)


def test_an_older_event_delivered_late_does_not_undo_the_cancel(
    client, token_for, subscriber, send_event, database
):
    assert client.post(CANCEL, headers=token_for("u1")).status_code == 200
    late = subscription_event("customer.subscription.updated", at=5)
    assert send_event(late).status_code == 200
    assert _state(database) == ("active", "pro", True)
