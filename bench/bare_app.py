"""The ceiling: a bare Flask app with no database.

Served by gunicorn with the same settings as the real app (``bare_app:app``):

- ``GET /bare``: one JWT-protected JSON answer shaped like ``GET /api/billing/subscription``, so
  the JSON work is the same size: what any endpoint behind a token costs at the least;
- ``GET /bare-plans``: the default plan catalogue as a constant list, public, in the shape
  ``GET /api/billing/plans`` answers it: the reference for the service's plan list, which each
  worker keeps in memory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask
from flask_jwt_extended import JWTManager, get_jwt, jwt_required

CATALOGUE = Path(__file__).resolve().parent.parent / "billing_service" / "plans.json"
PLAN_FIELDS = ("id", "name", "tier", "price_id", "amount", "currency", "interval", "features")

# Read with json alone (not the service's catalogue code), so that the app stays bare.
PLANS = [
    {**{name: entry[name] for name in PLAN_FIELDS}, "trial_days": entry.get("trial_days")}
    for entry in json.loads(CATALOGUE.read_text())
]

app = Flask(__name__)
app.config["JWT_SECRET_KEY"] = os.environ["JWT_SECRET_KEY"]
JWTManager(app)


@app.get("/bare")
@jwt_required()
def bare():
    return {
        "subscription_status": "free",
        "subscription_tier": "free",
        "stripe_customer_id": "cus_" + get_jwt()["sub"],
        "current_period_end": None,
        "cancel_at_period_end": False,
        "plan_id": "free",
        "features": ["1 project", "Community support"],
    }


@app.get("/bare-plans")
def bare_plans():
    return PLANS
