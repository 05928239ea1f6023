"""RS256 tokens from an identity provider: verified with its public key (JWT_PUBLIC_KEY) or the
keys its JWKS URL publishes (JWT_JWKS_URL), fetched once, cached, fetched again when it rotates
its keys, and never hammered by a stream of made-up key ids."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import jwt as pyjwt
import pytest
from flask import Flask

from billing_service import create_app
from billing_service.extensions import db
from billing_service.web import jwks
from tests.identity_provider import AUDIENCE, ISSUER, JwksServer, public_pem, token

SUBSCRIPTION = "/api/billing/subscription"


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
def rs256_app(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Flask]]:
    """An app like the suite's (same database), verifying RS256 tokens as configured by the
    given environment variables, with the provider's audience and issuer."""
    built: list[Flask] = []

    def make(**variables: str) -> Flask:
        for name, value in ({"JWT_AUDIENCE": AUDIENCE, "JWT_ISSUER": ISSUER} | variables).items():
            monkeypatch.setenv(name, value)
        keys = ("BILLING_ENV", "SQLALCHEMY_DATABASE_URI", "FRONTEND_URL")
        built.append(create_app({key: app.config[key] for key in keys}))
        return built[-1]

    yield make
    for one in built:
        with one.app_context():
            db.engine.dispose()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The JWKS cache's clock; add seconds to ``clock[0]`` to let time pass. It starts at a
    whole number, so adding whole seconds is exact: from a reading like 8191.504154035,
    ``(t + 30) - t`` is 29.99999999999909 and the cooldown would look unfinished."""
    now = [1_000_000.0]
    monkeypatch.setattr(jwks, "_now", lambda: now[0])
    return now


def test_a_token_signed_with_the_configured_public_key_is_accepted(rs256_app, database):
    client = rs256_app(JWT_PUBLIC_KEY=public_pem("k1")).test_client()
    r = client.get(SUBSCRIPTION, headers=bearer(token("k1", email="ann@example.com")))
    assert r.status_code == 200
    assert database.user("u1")["email"] == "ann@example.com"


def test_a_token_signed_with_another_key_is_401(rs256_app, database):
    client = rs256_app(JWT_PUBLIC_KEY=public_pem("k1")).test_client()
    r = client.get(SUBSCRIPTION, headers=bearer(token("intruder", kid="k1")))
    assert r.status_code == 401
    assert r.json == {"detail": "Invalid access token: Signature verification failed"}
    assert database.user("u1") is None


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_other_algorithms_are_refused(rs256_app, database, algorithm):
    """HS256 signed with the public key as its secret is the classic confusion attack."""
    client = rs256_app(JWT_PUBLIC_KEY=public_pem("k1")).test_client()
    now = int(time.time())
    claims = {"sub": "u1", "exp": now + 600, "aud": AUDIENCE, "iss": ISSUER}
    # (PyJWT will not HMAC with a PEM as the secret; the refusal comes before the key anyway.)
    secret = "the-attacker-knows-this-secret-0123" if algorithm == "HS256" else None
    forged = pyjwt.encode(claims, secret, algorithm=algorithm)
    r = client.get(SUBSCRIPTION, headers=bearer(forged))
    assert r.status_code == 401
    assert database.user("u1") is None


def test_the_token_rules_hold_for_rs256_tokens(rs256_app, database):
    client = rs256_app(JWT_PUBLIC_KEY=public_pem("k1")).test_client()
    for bad in (
        token("k1", lifetime=10 * 365 * 86400),
        token("k1", aud="another-app"),
        token("k1", iss="https://evil.example.com/"),
        token("k1", token_type="refresh"),
        token("k1", name="Ann\u2028"),
    ):
        r = client.get(SUBSCRIPTION, headers=bearer(bad))
        assert r.status_code == 401, r.json
        assert r.json["detail"].startswith("Invalid access token:")
    assert database.user("u1") is None


def test_keys_are_fetched_from_the_jwks_url_once_and_cached(rs256_app, clock):
    with JwksServer("k1") as idp:
        client = rs256_app(JWT_JWKS_URL=idp.url).test_client()
        for _ in range(3):
            assert client.get(SUBSCRIPTION, headers=bearer(token("k1"))).status_code == 200
        assert idp.fetches == 1


def test_a_rotated_key_is_fetched_when_a_token_names_it(rs256_app, clock):
    with JwksServer("k1") as idp:
        client = rs256_app(JWT_JWKS_URL=idp.url).test_client()
        assert client.get(SUBSCRIPTION, headers=bearer(token("k1"))).status_code == 200
        idp.keys = ["k1", "k2"]  # the provider rotates: signs with k2 from now on
        clock[0] += jwks.COOLDOWN_SECONDS
        r = client.get(SUBSCRIPTION, headers=bearer(token("k2", sub="u2")))
        assert r.status_code == 200
        assert idp.fetches == 2
        assert client.get(SUBSCRIPTION, headers=bearer(token("k1"))).status_code == 200
        assert idp.fetches == 2


def test_made_up_key_ids_do_not_make_us_hammer_the_provider(rs256_app, clock, database):
    with JwksServer("k1") as idp:
        client = rs256_app(JWT_JWKS_URL=idp.url).test_client()
        assert client.get(SUBSCRIPTION, headers=bearer(token("k1"))).status_code == 200
        for attempt in range(20):
            clock[0] += 1
            r = client.get(SUBSCRIPTION, headers=bearer(token("intruder", kid=f"kid-{attempt}")))
            assert r.status_code == 401
            assert r.json == {
                "detail": "Invalid access token: the token is not signed with a key of the "
                "identity provider"
            }
        # 20 seconds of made-up kids: the first fetch's cooldown (30 s) has not run out.
        assert idp.fetches == 1
        clock[0] += jwks.COOLDOWN_SECONDS
        client.get(SUBSCRIPTION, headers=bearer(token("intruder", kid="kid-x")))
        client.get(SUBSCRIPTION, headers=bearer(token("intruder", kid="kid-y")))
        assert idp.fetches == 2


def test_a_key_from_the_jwks_url_with_the_wrong_signature_is_401(rs256_app, clock, database):
    with JwksServer("k1") as idp:
        client = rs256_app(JWT_JWKS_URL=idp.url).test_client()
        r = client.get(SUBSCRIPTION, headers=bearer(token("intruder", kid="k1")))
        assert r.status_code == 401
        assert r.json == {"detail": "Invalid access token: Signature verification failed"}
        assert database.user("u1") is None


def test_a_token_without_kid_is_accepted_only_from_a_single_key_provider(rs256_app, clock):
    with JwksServer("k1") as idp:
        client = rs256_app(JWT_JWKS_URL=idp.url).test_client()
        assert client.get(SUBSCRIPTION, headers=bearer(token("k1", kid=None))).status_code == 200
        idp.keys = ["k1", "k2"]
        clock[0] += jwks.CACHE_SECONDS + 1
        r = client.get(SUBSCRIPTION, headers=bearer(token("k1", kid=None)))
        assert r.status_code == 401


def test_an_unreachable_provider_is_503_and_not_asked_on_every_request(rs256_app, clock):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = rs256_app(JWT_JWKS_URL=f"http://127.0.0.1:{port}/jwks.json").test_client()
    r = client.get(SUBSCRIPTION, headers=bearer(token("k1")))
    assert r.status_code == 503
    assert r.json == {"detail": "Identity provider keys unavailable; try again shortly"}
    assert r.headers["Retry-After"] == "30"


def test_a_failing_provider_is_asked_once_per_cooldown(rs256_app, clock):
    with JwksServer("k1") as idp:
        idp.failing = True
        client = rs256_app(JWT_JWKS_URL=idp.url).test_client()
        for _ in range(5):
            assert client.get(SUBSCRIPTION, headers=bearer(token("k1"))).status_code == 503
        assert idp.fetches == 1
        idp.failing = False
        clock[0] += jwks.COOLDOWN_SECONDS
        assert client.get(SUBSCRIPTION, headers=bearer(token("k1"))).status_code == 200
        assert idp.fetches == 2


def test_cached_keys_outlive_a_provider_outage(rs256_app, clock):
    with JwksServer("k1") as idp:
        client = rs256_app(JWT_JWKS_URL=idp.url).test_client()
        assert client.get(SUBSCRIPTION, headers=bearer(token("k1"))).status_code == 200
    clock[0] += jwks.CACHE_SECONDS + 1  # the cache is stale and the provider is gone
    assert client.get(SUBSCRIPTION, headers=bearer(token("k1"))).status_code == 200


def test_dev_token_explains_it_cannot_mint_rs256_tokens(rs256_app):
    app = rs256_app(JWT_PUBLIC_KEY=public_pem("k1"))
    app.config["BILLING_ENV"] = "development"
    result = app.test_cli_runner().invoke(args=["dev-token", "u1"])
    assert result.exit_code != 0
    assert "identity provider" in result.output


def test_malformed_and_foreign_keys_in_the_jwks_are_skipped(rs256_app, clock, monkeypatch):
    from tests import identity_provider

    real_jwk = identity_provider.jwk

    def served(name: str) -> dict:
        if name == "broken":
            return {"kty": "RSA", "kid": "broken", "n": "!!", "e": 3}
        if name == "encryption":
            return real_jwk("k2") | {"kid": "encryption", "use": "enc"}
        return real_jwk(name)

    monkeypatch.setattr(identity_provider, "jwk", served)
    with JwksServer("broken", "encryption", "k1") as idp:
        client = rs256_app(JWT_JWKS_URL=idp.url).test_client()
        assert client.get(SUBSCRIPTION, headers=bearer(token("k1"))).status_code == 200
        r = client.get(SUBSCRIPTION, headers=bearer(token("k2", kid="encryption")))
        assert r.status_code == 401
