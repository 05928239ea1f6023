"""POST /cancel and /resume: managing the subscription from the app (issue 12)."""

from __future__ import annotations

import time

import pytest

from tests.conftest import PRO_PRICE, TEAM_PRICE
from tests.lifecycle import subscription, subscription_event
from tests.stripe_double import make_event

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


CHANGE = "/api/billing/change-plan"
GET_SUB = "/v1/subscriptions/{subscription_exposed_id}"


def _writes(double):
    return [call for call in double.calls("POST", UPDATE)]


def test_change_plan_switches_the_item_and_applies_the_new_tier(
    client, token_for, subscriber, use_double, database
):
    item_id = use_double.subscriptions["sub_u1"]["items"]["data"][0]["id"]
    r = client.post(CHANGE, json={"price_id": TEAM_PRICE}, headers=token_for("u1"))
    assert r.status_code == 200, r.json
    assert r.json["subscription_tier"] == "team"
    assert r.json["subscription_status"] == "active"
    [call] = _writes(use_double)
    assert call.params == {
        "items": [{"id": item_id, "price": TEAM_PRICE}],
        "proration_behavior": "create_prorations",
    }
    assert call.idempotency_key
    assert database.user("u1")["subscription_tier"] == "team"


def test_change_plan_passes_the_previews_proration_date(
    client, token_for, subscriber, use_double, app, monkeypatch
):
    monkeypatch.setitem(app.config, "CHANGE_PLAN_PRORATION", "always_invoice")
    when = int(time.time()) - 5
    body = {"price_id": TEAM_PRICE, "proration_date": when}
    assert client.post(CHANGE, json=body, headers=token_for("u1")).status_code == 200
    [call] = _writes(use_double)
    assert call.params["proration_behavior"] == "always_invoice"
    assert call.params["proration_date"] == str(when)


def test_a_retried_change_after_a_lost_answer_switches_once(
    client, token_for, subscriber, use_double, app, monkeypatch, database
):
    """Stripe switched, but its answer was lost (a timeout): the retried click stores what
    Stripe has and switches nothing again."""
    monkeypatch.setitem(app.config, "STRIPE_REQUEST_DEADLINE_SECONDS", 1)
    use_double.delay_next("POST", UPDATE, 1.5)
    first = client.post(CHANGE, json={"price_id": TEAM_PRICE}, headers=token_for("u1"))
    assert first.status_code == 504
    time.sleep(1)  # Stripe finished the switch meanwhile
    r = client.post(CHANGE, json={"price_id": TEAM_PRICE}, headers=token_for("u1"))
    assert r.status_code == 200, r.json
    assert len(_writes(use_double)) == 1
    assert r.json["subscription_tier"] == "team"
    assert database.user("u1")["subscription_tier"] == "team"


def test_the_change_key_names_user_request_and_state(
    client, token_for, subscriber, use_double, app
):
    """Two clicks decided on the same stored state share a key (Stripe applies one); a change
    decided on a newer state (after a resume, say) gets a new one."""
    from billing_service.stripe_api.subscription_changes import change_key

    params = {"cancel_at_period_end": True}
    assert change_key("u1", "sub_u1", params, "t1") == change_key("u1", "sub_u1", params, "t1")
    assert change_key("u1", "sub_u1", params, "t1") != change_key("u1", "sub_u1", params, "t2")
    assert change_key("u1", "sub_u1", params, "t1") != change_key("u2", "sub_u1", params, "t1")
    assert (
        client.post(CHANGE, json={"price_id": TEAM_PRICE}, headers=token_for("u1")).status_code
        == 200
    )
    [call] = _writes(use_double)
    assert call.idempotency_key.startswith("billing-service-subscription-change-")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"price_id": "price_nobody_sells"}, 400),
        ({"price_id": PRO_PRICE}, 409),
        ({"price_id": TEAM_PRICE, "quantity": 2}, 400),
        ({"price_id": TEAM_PRICE, "proration_date": "soon"}, 422),
        ({}, 422),
    ],
)
def test_change_plan_refusals_send_nothing(
    client, token_for, subscriber, use_double, database, body, status
):
    r = client.post(CHANGE, json=body, headers=token_for("u1"))
    assert r.status_code in (status, 422 if status == 400 else status), r.json
    assert set(r.json) == {"detail"}
    assert use_double.calls("POST", UPDATE) == []
    assert use_double.calls("GET", GET_SUB) == []
    assert database.user("u1")["subscription_tier"] == "pro"


def test_change_plan_unknown_price_says_so(client, token_for, subscriber, use_double):
    r = client.post(CHANGE, json={"price_id": "price_nobody_sells"}, headers=token_for("u1"))
    assert (r.status_code, r.json) == (400, {"detail": "Unknown price_id"})


def test_change_plan_without_a_subscription_points_to_checkout(
    client, token_for, database, seeded_plans, use_double
):
    database.add_user("u1", stripe_customer_id="cus_u1")
    r = client.post(CHANGE, json={"price_id": TEAM_PRICE}, headers=token_for("u1"))
    assert r.status_code == 409
    assert "checkout" in r.json["detail"]
    assert use_double.calls("POST", UPDATE) == []


@pytest.mark.parametrize("status", ["past_due", "incomplete"])
def test_change_plan_with_a_payment_to_fix_points_to_the_portal(
    client, token_for, subscriber, use_double, send_event, status
):
    assert send_event(subscription_event("customer.subscription.updated", at=10, status=status))
    r = client.post(CHANGE, json={"price_id": TEAM_PRICE}, headers=token_for("u1"))
    assert r.status_code == 409
    assert "portal" in r.json["detail"]
    assert use_double.calls("POST", UPDATE) == []


def test_change_plan_when_stripe_fails_changes_nothing(
    client, token_for, subscriber, use_double, database
):
    use_double.fail_next("POST", UPDATE, 503, times=3)
    r = client.post(CHANGE, json={"price_id": TEAM_PRICE}, headers=token_for("u1"))
    assert r.status_code in (502, 503, 504)
    assert database.user("u1")["subscription_tier"] == "pro"


def test_stripes_own_event_and_a_late_older_one_leave_the_new_tier(
    client, token_for, subscriber, use_double, send_event, database
):
    assert (
        client.post(CHANGE, json={"price_id": TEAM_PRICE}, headers=token_for("u1")).status_code
        == 200
    )
    now = use_double.subscriptions["sub_u1"]
    own = make_event("customer.subscription.updated", now, created=int(time.time()))
    assert send_event(own).status_code == 200
    assert database.user("u1")["subscription_tier"] == "team"
    late = subscription_event("customer.subscription.updated", at=20, price=PRO_PRICE)
    assert send_event(late).status_code == 200
    assert database.user("u1")["subscription_tier"] == "team"


def test_the_subscription_names_its_plan_and_features(
    client, token_for, subscriber, use_double, seeded_plans
):
    features = {plan["id"]: plan["features"] for plan in seeded_plans}
    r = client.get("/api/billing/subscription", headers=token_for("u1"))
    assert (r.json["plan_id"], r.json["features"]) == ("pro", features["pro"])
    r = client.post(CHANGE, json={"price_id": TEAM_PRICE}, headers=token_for("u1"))
    assert (r.json["plan_id"], r.json["features"]) == ("team", features["team"])
    free = client.get("/api/billing/subscription", headers=token_for("u2"))
    assert (free.json["plan_id"], free.json["features"]) == ("free", features["free"])


PREVIEW = "/api/billing/change-plan/preview"


def test_preview_shows_the_prorated_cost_and_changes_nothing(
    client, token_for, subscriber, use_double, database
):
    item_id = use_double.subscriptions["sub_u1"]["items"]["data"][0]["id"]
    before = int(time.time())
    r = client.post(PREVIEW, json={"price_id": TEAM_PRICE}, headers=token_for("u1"))
    assert r.status_code == 200, r.json
    assert set(r.json) == {"amount_due", "currency", "proration_date", "lines"}
    assert r.json["proration_date"] >= before
    assert [line["proration"] for line in r.json["lines"]] == [True, True]
    assert r.json["amount_due"] == sum(line["amount"] for line in r.json["lines"])
    [call] = use_double.calls("POST", "/v1/invoices/create_preview")
    assert call.params == {
        "customer": "cus_u1",
        "subscription": "sub_u1",
        "subscription_details": {
            "items": [{"id": item_id, "price": TEAM_PRICE}],
            "proration_date": str(r.json["proration_date"]),
            "proration_behavior": "create_prorations",
        },
    }
    assert use_double.calls("POST", UPDATE) == []
    assert database.user("u1")["subscription_tier"] == "pro"
    # The switch then uses the preview's moment.
    body = {"price_id": TEAM_PRICE, "proration_date": r.json["proration_date"]}
    assert client.post(CHANGE, json=body, headers=token_for("u1")).status_code == 200
    [switch] = _writes(use_double)
    assert switch.params["proration_date"] == str(r.json["proration_date"])


@pytest.mark.parametrize(("price", "status"), [("price_nobody_sells", 400), (PRO_PRICE, 409)])
def test_preview_refusals_send_nothing(client, token_for, subscriber, use_double, price, status):
    r = client.post(PREVIEW, json={"price_id": price}, headers=token_for("u1"))
    assert r.status_code == status
    assert use_double.calls("POST", "/v1/invoices/create_preview") == []


def test_preview_when_stripe_fails(client, token_for, subscriber, use_double):
    use_double.fail_next("POST", "/v1/invoices/create_preview", 503)
    r = client.post(PREVIEW, json={"price_id": TEAM_PRICE}, headers=token_for("u1"))
    assert r.status_code in (502, 503, 504)
    assert set(r.json) == {"detail"}
