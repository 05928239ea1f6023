"""GET /invoices: the user's billing history, from Stripe."""

from __future__ import annotations

import pytest

from tests.stripe_double import invoice_object

INVOICES = "/api/billing/invoices"


def _invoice(double, invoice_id, created, customer="cus_u1"):
    invoice = invoice_object(id=invoice_id, customer=customer, subscription="sub_u1")
    invoice.update(created=created, number=f"N-{invoice_id}")
    double.put_invoice(invoice)
    return invoice


@pytest.fixture
def history(database, use_double):
    database.add_user("u1", stripe_customer_id="cus_u1")
    for n in range(3):
        _invoice(use_double, f"in_u1_{n}", 1_700_000_000 + n * 86400)
    _invoice(use_double, "in_other", 1_700_000_000, customer="cus_other")
    return use_double


def test_newest_first_with_the_fields_shown(client, token_for, history):
    r = client.get(INVOICES, headers=token_for("u1"))
    assert r.status_code == 200, r.json
    assert [i["id"] for i in r.json["data"]] == ["in_u1_2", "in_u1_1", "in_u1_0"]
    assert r.json["has_more"] is False
    first = r.json["data"][0]
    assert set(first) == {
        "id",
        "number",
        "status",
        "amount_due",
        "amount_paid",
        "currency",
        "created",
        "period_start",
        "period_end",
        "hosted_invoice_url",
        "invoice_pdf",
    }
    assert first["created"] == "2023-11-16T22:13:20Z"
    assert first["number"] == "N-in_u1_2"
    [call] = history.calls("GET", "/v1/invoices")
    assert call.params["customer"] == "cus_u1"


def test_pages_follow_starting_after(client, token_for, history):
    r = client.get(f"{INVOICES}?limit=2", headers=token_for("u1"))
    assert [i["id"] for i in r.json["data"]] == ["in_u1_2", "in_u1_1"]
    assert r.json["has_more"] is True
    r = client.get(f"{INVOICES}?limit=2&starting_after=in_u1_1", headers=token_for("u1"))
    assert r.status_code == 200, r.json
    assert [i["id"] for i in r.json["data"]] == ["in_u1_0"]
    assert r.json["has_more"] is False


@pytest.mark.parametrize("cursor", ["in_other", "in_nobody"])
def test_a_cursor_not_the_users_is_400_and_lists_nothing(client, token_for, history, cursor):
    r = client.get(f"{INVOICES}?starting_after={cursor}", headers=token_for("u1"))
    assert r.status_code == 400
    assert set(r.json) == {"detail"}
    assert history.calls("GET", "/v1/invoices") == []


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=ten", "limit=1.5", "starting_after=cus_1"]
)
def test_bad_query_is_422(client, token_for, history, query):
    r = client.get(f"{INVOICES}?{query}", headers=token_for("u1"))
    assert r.status_code == 422
    assert set(r.json) == {"detail"}
    assert history.requests == []


def test_no_customer_no_invoices(client, token_for, database, use_double):
    r = client.get(INVOICES, headers=token_for("u9"))
    assert r.status_code == 200
    assert r.json == {"data": [], "has_more": False}
    assert use_double.requests == []


def test_stripe_failing_is_a_bounded_error(client, token_for, history):
    history.fail_next("GET", "/v1/invoices", 503)
    r = client.get(INVOICES, headers=token_for("u1"))
    assert r.status_code in (502, 503, 504)
    assert set(r.json) == {"detail"}
