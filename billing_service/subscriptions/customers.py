"""Which Stripe customers are ours: only a customer we created may be tied to a user.

A Stripe account is often shared with other software, whose customers, sessions and subscriptions
reach our webhook too, and whose metadata may well say ``user_id: "42"`` for a user of *its* own.
A user's customer id is normally stored before Stripe can create anything for it (the checkout
stores the customer before it creates a session), so events find their user by customer id. A
customer we do not know is tied to a user only with proof: the customer's own metadata carries
our namespaced key (``user_references.METADATA_KEY``) with that user's id, which only our
``create_customer`` writes. A hint on a session or subscription alone is never enough, and the
legacy ``metadata.user_id`` (written by earlier versions, and by everyone else) is no proof at
all: the customers earlier versions created were stored when created, so they need none.
"""

from __future__ import annotations

import logging

from billing_service.extensions import stripe_api
from billing_service.repository import users
from billing_service.stripe_api.user_references import metadata_user_id

log = logging.getLogger(__name__)


def proven_customer_of(user_id: str, customer_id: str) -> bool:
    """Whether ``customer_id`` is a customer we created for ``user_id`` and no other user has.

    Asks Stripe for the customer's metadata: only for a customer we have not stored, which our
    own flows never produce, so this is rare.
    """
    if users.find_by_customer(customer_id) is not None:
        return False
    named = metadata_user_id(stripe_api().customer_metadata(customer_id))
    if named != user_id:
        log.warning(
            "Stripe customer %s was not created by this service for the user an object names; "
            "not trusted",
            customer_id,
        )
        return False
    return True
