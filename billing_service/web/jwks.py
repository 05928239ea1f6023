"""The identity provider's signing keys, from its JWKS URL (``JWT_JWKS_URL``).

Fetched on first use (a start-up never fails because the provider is briefly down), cached for
``CACHE_SECONDS``, and fetched again at once when a token names a key we do not have (the
provider rotated its keys). Whatever the reason, at most one fetch per ``COOLDOWN_SECONDS``: a
stream of tokens with made-up ``kid`` values must not make us hammer the provider, nor make
every request wait on it while it is down. A failed fetch keeps the keys we have.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.request
from typing import Any

from jwt import PyJWK
from jwt.exceptions import PyJWTError

from billing_service.errors import ApiError
from billing_service.web.token_rules import TokenRefused

log = logging.getLogger(__name__)

CACHE_SECONDS = 600
COOLDOWN_SECONDS = 30
TIMEOUT_SECONDS = 5
MAX_BYTES = 256 * 1024  # a JWKS is a few kilobytes; more is not a key set


class SigningKeysUnavailable(ApiError):
    """We hold no key for the token and could not fetch the provider's: our problem, not the
    client's token, hence 503 rather than 401 (a 401 would sign the user out)."""

    def __init__(self) -> None:
        super().__init__(503, "Identity provider keys unavailable; try again shortly")


def _now() -> float:
    return time.monotonic()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # The URL is configured, not followed: a redirect could lead to keys nobody chose.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class JwksKeys:
    def __init__(self, url: str) -> None:
        self.url = url
        self._keys: dict[str | None, Any] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._lock = threading.Lock()
        self._opener = urllib.request.build_opener(_NoRedirect())

    def key_for(self, kid: object) -> Any:
        """The public key that signed a token whose header names ``kid``."""
        if kid is not None and not isinstance(kid, str):
            raise TokenRefused("the token's kid is not a string")
        with self._lock:
            if self._stale():
                self._fetch()
            key = self._find(kid)
            if key is None and self._may_fetch():
                self._fetch()  # an unknown kid: the provider may have rotated its keys
                key = self._find(kid)
            if key is not None:
                return key
            if self._fetched_at is None:
                raise SigningKeysUnavailable()
            raise TokenRefused("the token is not signed with a key of the identity provider")

    def _find(self, kid: str | None) -> Any:
        if kid is None:
            # Without a kid, only a provider with a single key says which one signed it.
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _stale(self) -> bool:
        expired = self._fetched_at is None or _now() - self._fetched_at > CACHE_SECONDS
        return expired and self._may_fetch()

    def _may_fetch(self) -> bool:
        return self._attempted_at is None or _now() - self._attempted_at >= COOLDOWN_SECONDS

    def _fetch(self) -> None:
        self._attempted_at = _now()
        try:
            request = urllib.request.Request(self.url, headers={"Accept": "application/json"})
            with self._opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                body = response.read(MAX_BYTES + 1)
            if len(body) > MAX_BYTES:
                raise ValueError(f"larger than {MAX_BYTES} bytes")
            keys = _signing_keys(json.loads(body))
        except (OSError, http.client.HTTPException, ValueError) as error:
            log.warning(
                "Could not fetch the identity provider's keys from JWT_JWKS_URL: %s; "
                "keeping the %d key(s) we have",
                error,
                len(self._keys),
            )
            return
        self._keys, self._fetched_at = keys, _now()
        log.info("Fetched %d signing key(s) from JWT_JWKS_URL", len(keys))


def _signing_keys(document: object) -> dict[str | None, Any]:
    """RSA signing keys by kid; keys for encryption or other algorithms are left out, so no
    token can pick them."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no 'keys' list)")
    keys: dict[str | None, Any] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        kid = entry.get("kid")
        if kid is not None and not isinstance(kid, str):
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        try:
            keys[kid] = PyJWK(entry, algorithm="RS256").key
        except (PyJWTError, KeyError, TypeError, ValueError):
            continue  # a malformed entry: the provider's other keys still work
    if not keys:
        raise ValueError("no RS256 signing key in the JWKS document")
    return keys
