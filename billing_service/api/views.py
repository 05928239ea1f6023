"""The billing API. Views are thin: parse input, call the domain, return JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, request
from flask_jwt_extended import jwt_required

from billing_service import repository
from billing_service.api import bp
from billing_service.api.current_user import current_summary, current_user, summary_of
from billing_service.api.openapi import openapi_document
from billing_service.api.rate_limits import sessions_per_user, sync_checkouts_per_user
from billing_service.api.request_body import parse_body, parse_query
from billing_service.api.schemas import (
    CancelRequest,
    ChangePlanRequest,
    CheckoutRequest,
    InvoiceListResponse,
    InvoicesQuery,
    PreviewRequest,
    PreviewResponse,
    SubscriptionResponse,
    SyncCheckoutRequest,
    UrlResponse,
)
from billing_service.plans.cache import active_plans_json
from billing_service.subscriptions import manage
from billing_service.subscriptions.checkout import start_checkout
from billing_service.subscriptions.checkout_return import apply_checkout_return
from billing_service.subscriptions.current_plan import current_plan
from billing_service.subscriptions.invoices import billing_history
from billing_service.subscriptions.plan_preview import preview_change
from billing_service.subscriptions.portal import open_portal

if TYPE_CHECKING:
    from billing_service.models import User
    from billing_service.repository.users import Summary


@bp.post("/create-checkout-session")
@jwt_required()
@sessions_per_user
def create_checkout_session():
    body = parse_body(CheckoutRequest)
    # Reads only, unless this is the user's first checkout: ensure_customer then takes a lock in
    # a transaction of its own.
    repository.read_only()
    url = start_checkout(current_user(), body.price_id)
    return UrlResponse(url=url).model_dump()


@bp.post("/create-portal-session")
@jwt_required()
@sessions_per_user
def create_portal_session():
    url = open_portal(current_user())
    return UrlResponse(url=url).model_dump()


@bp.get("/subscription")
@jwt_required()
def subscription():
    # One read outside any transaction (repository.read_one), unless the user is new.
    return _summary_response(current_summary())


@bp.post("/sync-checkout")
@jwt_required()
@sync_checkouts_per_user
def sync_checkout_session():
    body = parse_body(SyncCheckoutRequest)
    user = current_user()
    apply_checkout_return(user, body.session_id)
    return _subscription_of(user)


@bp.post("/change-plan/preview")
@jwt_required()
@sessions_per_user
def change_plan_preview():
    body = parse_body(PreviewRequest)
    repository.read_only()
    preview = preview_change(current_user(), body.price_id)
    return PreviewResponse.model_validate(preview).model_dump()


@bp.post("/change-plan")
@jwt_required()
@sessions_per_user
def change_plan():
    body = parse_body(ChangePlanRequest)
    user = current_user()
    manage.change_plan(user, body.price_id, proration_date=body.proration_date)
    return _subscription_of(user)


@bp.post("/cancel")
@jwt_required()
@sessions_per_user
def cancel():
    body = parse_body(CancelRequest) if request.get_data() else CancelRequest()
    user = current_user()
    manage.cancel_at_period_end(user, feedback=body.feedback, comment=body.comment)
    return _subscription_of(user)


@bp.post("/resume")
@jwt_required()
@sessions_per_user
def resume():
    user = current_user()
    manage.resume(user)
    return _subscription_of(user)


@bp.get("/invoices")
@jwt_required()
def invoices():
    query = parse_query(InvoicesQuery)
    repository.read_only()
    data, has_more = billing_history(
        current_user(), limit=query.limit, starting_after=query.starting_after
    )
    return InvoiceListResponse.model_validate({"data": data, "has_more": has_more}).model_dump(
        mode="json"
    )


def _subscription_of(user: User) -> dict[str, object]:
    return _summary_response(summary_of(user))


def _summary_response(summary: Summary) -> dict[str, object]:
    plan_id, features = current_plan(summary.subscription_tier, summary.price_id)
    return SubscriptionResponse(
        subscription_status=summary.subscription_status,
        subscription_tier=summary.subscription_tier,
        stripe_customer_id=summary.stripe_customer_id,
        current_period_end=summary.current_period_end,
        cancel_at_period_end=summary.cancel_at_period_end,
        plan_id=plan_id,
        features=features,
    ).model_dump(mode="json")


@bp.get("/plans")
def list_plans():
    return current_app.response_class(active_plans_json(), mimetype="application/json")


@bp.get("/openapi.json")
def openapi():
    document = current_app.extensions.get("openapi")
    if document is None:
        document = current_app.extensions["openapi"] = openapi_document()
    return document
