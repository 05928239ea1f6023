"""The ceiling: a bare Flask app with one JWT-protected JSON endpoint and no database.

Served by gunicorn with the same settings as the real app (``bare_app:app``); its answer has the
shape of ``GET /api/billing/subscription`` so the JSON work is the same size.
"""

from __future__ import annotations

import os

from flask import Flask
from flask_jwt_extended import JWTManager, get_jwt, jwt_required

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
    }
