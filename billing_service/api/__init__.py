from flask import Blueprint

bp = Blueprint("billing", __name__, url_prefix="/api/billing")

from billing_service.api import views  # noqa: E402, F401  (views attach themselves to bp)
