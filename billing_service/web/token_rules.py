"""What an access token must be, beyond a valid signature: the rules an identity provider's
tokens meet and a forged or misused one does not.

Each rule raises :class:`TokenRefused` (a PyJWT ``InvalidTokenError``, so flask-jwt-extended
answers it like any bad token: ``401 {"detail": "Invalid access token: ..."}``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from jwt import InvalidTokenError

MAX_CLAIM_LENGTH = 255

# Claims that mark a refresh token: flask-jwt-extended writes ``type``, djangorestframework-
# simplejwt and many hand-rolled issuers ``token_type``, Keycloak ``typ`` ("Refresh").
REFRESH_MARKERS = ("type", "token_type", "typ")

# Characters refused in sub, email and name, by Unicode general category:
#   Cc  controls: C0 (NUL, ESC, ...), DEL and C1 (NEL U+0085, ...): log and terminal injection
#   Cs  surrogates: a lone one cannot be encoded as UTF-8, so no database can store it
#   Zl  line separator U+2028 and Zp paragraph separator U+2029: line breaks in disguise
# plus the bidirectional embeddings, overrides and isolates (Cf, U+202A-U+202E and
# U+2066-U+2069), which make a name display as other text ("Trojan Source") in logs, the
# Stripe dashboard and receipts. The rest of Cf stays allowed: zero-width (non-)joiners are part
# of correct spelling in Persian and Indic scripts, and of emoji sequences. Spaces (Zs) stay
# allowed: "Ann Smith" is a name.
REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))


class TokenRefused(InvalidTokenError):
    """A correctly signed token this service does not accept; the message is the client's."""


def check_lifetime(claims: Mapping[str, Any], *, now: float, max_age: int, leeway: float) -> None:
    """An ``exp`` is required, and no further away than ``max_age`` seconds: a token that never
    expires, or lives for centuries, is a stolen credential that works forever."""
    expires = claims.get("exp")
    if expires is None:
        raise TokenRefused("the token has no expiry (exp)")
    # PyJWT has already checked that exp is a number in the future.
    if float(expires) - now > max_age + leeway:
        raise TokenRefused(f"the token expires more than {max_age} seconds from now")


def check_not_refresh(claims: Mapping[str, Any]) -> None:
    for marker in REFRESH_MARKERS:
        value = claims.get(marker)
        if isinstance(value, str) and value.strip().lower() == "refresh":
            raise TokenRefused("a refresh token is not an access token")


def check_user_claims(claims: Mapping[str, Any]) -> None:
    """``sub`` (required), ``email`` and ``name`` must be text the database can store and a
    person can read: at most 255 characters, none of them refused (see above)."""
    for claim, required in (("sub", True), ("email", False), ("name", False)):
        if not storable_text(claims.get(claim), required=required):
            raise TokenRefused(
                "sub, email and name must be strings of at most "
                f"{MAX_CLAIM_LENGTH} characters without control characters"
            )


def storable_text(value: object, *, required: bool = False) -> bool:
    if value is None:
        return not required
    return (
        isinstance(value, str)
        and len(value) <= MAX_CLAIM_LENGTH
        and (bool(value) or not required)
        and not any(_refused(character) for character in value)
    )


def _refused(character: str) -> bool:
    return unicodedata.category(character) in REFUSED_CATEGORIES or character in BIDI_CONTROLS
