"""Where Stripe sends the user back to, on the SaaS frontend."""

from __future__ import annotations

from flask import current_app


def _frontend() -> str:
    return current_app.config["FRONTEND_URL"].rstrip("/")


def checkout_success() -> str:
    # Stripe fills in {CHECKOUT_SESSION_ID}; the dashboard posts it to /sync-checkout.
    return f"{_frontend()}/dashboard?success=true&session_id={{CHECKOUT_SESSION_ID}}"


def checkout_cancel() -> str:
    return f"{_frontend()}/pricing?canceled=true"


def dashboard() -> str:
    return f"{_frontend()}/dashboard"
