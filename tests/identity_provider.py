"""A local identity provider for the tests: RSA signing keys, a JWKS endpoint on 127.0.0.1 (plain
http) and the RS256 tokens it issues, as Auth0, Clerk, Cognito or Keycloak issue them."""

from __future__ import annotations

import json
import threading
import time
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

ISSUER = "https://idp.example.com/"
AUDIENCE = "billing-api"


@cache
def private_key(name: str) -> RSAPrivateKey:
    """A 2048-bit key per name, made once per test session (generating one takes a moment)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(name: str) -> str:
    return (
        private_key(name)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def jwk(name: str) -> dict[str, Any]:
    entry = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(private_key(name).public_key()))
    return entry | {"kid": name, "use": "sig", "alg": "RS256"}


def token(key: str, *, kid: str | None = "", lifetime: int = 900, **claims: Any) -> str:
    """An RS256 access token signed with ``key``; its header names ``kid`` (default: the key's
    own name; None: no kid)."""
    now = int(time.time())
    body = {"sub": "u1", "iat": now, "exp": now + lifetime, "iss": ISSUER, "aud": AUDIENCE}
    headers = {} if kid is None else {"kid": kid or key}
    return pyjwt.encode(body | claims, private_key(key), algorithm="RS256", headers=headers)


class JwksServer:
    """Serves ``{"keys": [...]}`` for the key names in ``self.keys`` (a 500 while ``failing``);
    counts the fetches."""

    def __init__(self, *keys: str) -> None:
        self.keys = list(keys)
        self.failing = False
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                if server.failing:
                    self.send_error(500)
                    return
                body = json.dumps({"keys": [jwk(name) for name in server.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
