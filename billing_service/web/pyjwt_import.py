"""PyJWT, with the ``cryptography`` package only when the app's tokens need it.

PyJWT imports cryptography as soon as it is installed, for its asymmetric algorithms: RS256, which
the service uses with JWT_PUBLIC_KEY or JWT_JWKS_URL. HS256 tokens (JWT_SECRET_KEY) need nothing
but hashlib, and cryptography costs every worker ~10 MB of memory and ~40 ms of start-up. So
``create_app`` imports PyJWT through :func:`import_pyjwt` before anything else does: for an HS256
app, with cryptography out of its sight; for an RS256 one, as usual.

If PyJWT was imported without cryptography and the same process then builds an RS256 app (the
service never does; a script or a test may), PyJWT's modules that look for cryptography are run
again, and find it. ``jwt.exceptions`` is not among them: code that catches PyJWT's errors keeps
catching the same classes.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

# The PyJWT modules that bind names depending on whether cryptography was found, in the order
# they import one another; the package itself last, so that ``jwt.decode`` & co. are the new ones.
_CRYPTOGRAPHY_AWARE = (
    "jwt.utils",
    "jwt.algorithms",
    "jwt.api_jwk",
    "jwt.api_jws",
    "jwt.api_jwt",
    "jwt.jwk_set_cache",
    "jwt.jwks_client",
    "jwt",
)


def needs_cryptography(config: Mapping[str, Any]) -> bool:
    """Whether the app's tokens are verified with a public key (RS256), not a shared secret."""
    algorithms = {
        config.get("JWT_ALGORITHM") or "HS256",
        *(config.get("JWT_DECODE_ALGORITHMS") or ()),
    }
    return bool(
        config.get("JWT_PUBLIC_KEY")
        or config.get("JWT_JWKS_URL")
        or any(not algorithm.startswith("HS") for algorithm in algorithms)
    )


def import_pyjwt(*, with_cryptography: bool) -> None:
    """Import PyJWT (``jwt``) for an app; with cryptography if the app needs it or it is loaded."""
    if "jwt" not in sys.modules:
        if with_cryptography or "cryptography" in sys.modules:
            import jwt  # noqa: F401
        else:
            _import_without_cryptography()
    elif with_cryptography and not sys.modules["jwt.algorithms"].has_crypto:
        for name in _CRYPTOGRAPHY_AWARE:
            importlib.reload(sys.modules[name])


def _import_without_cryptography() -> None:
    # None in sys.modules makes ``import cryptography`` raise ModuleNotFoundError, which PyJWT
    # takes for "not installed". Only for this import: the entry is gone right after it.
    sys.modules["cryptography"] = None  # type: ignore[assignment]
    try:
        import jwt  # noqa: F401
    finally:
        del sys.modules["cryptography"]
