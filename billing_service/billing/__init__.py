from flask import Blueprint

bp = Blueprint("billing", __name__, url_prefix="/api/billing")

from billing_service.billing import routes  # noqa: E402, F401  (routes attach themselves to bp)
