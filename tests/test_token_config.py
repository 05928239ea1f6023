"""Start-up refuses token settings that would be unsafe or fail later, naming the variable."""

from __future__ import annotations

import pytest

from billing_service import create_app
from billing_service.config import ConfigError
from tests.identity_provider import public_pem
from tests.test_config import PRODUCTION_ENV

RS256_PRODUCTION_ENV = {k: v for k, v in PRODUCTION_ENV.items() if k != "JWT_SECRET_KEY"}


@pytest.mark.parametrize("secret", ["abc", "x" * 31, "é" * 15 + "x"], ids=["abc", "31", "31-utf8"])
def test_production_refuses_a_jwt_secret_shorter_than_32_bytes(environ, secret):
    environ(PRODUCTION_ENV | {"JWT_SECRET_KEY": secret})
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY must be at least 32 bytes") as error:
        create_app()
    assert secret not in str(error.value)


def test_production_accepts_a_32_byte_jwt_secret(environ):
    environ(PRODUCTION_ENV | {"JWT_SECRET_KEY": "x" * 32})
    assert create_app().config["JWT_ALGORITHM"] == "HS256"


def test_development_and_tests_may_use_a_short_secret(environ):
    environ({"BILLING_ENV": "development", "JWT_SECRET_KEY": "abc"})
    assert create_app().config["JWT_SECRET_KEY"] == "abc"


def test_production_with_a_jwks_url_needs_no_jwt_secret(environ):
    environ(
        RS256_PRODUCTION_ENV | {"JWT_JWKS_URL": "https://idp.example.com/.well-known/jwks.json"}
    )
    app = create_app()
    assert (app.config["JWT_ALGORITHM"], app.config["JWT_DECODE_ALGORITHMS"]) == (
        "RS256",
        ["RS256"],
    )


def test_production_with_a_public_key_needs_no_jwt_secret(environ):
    # As a one-line .env value, with \n for the line breaks.
    environ(RS256_PRODUCTION_ENV | {"JWT_PUBLIC_KEY": public_pem("k1").replace("\n", "\\n")})
    assert create_app().config["JWT_PUBLIC_KEY"] == public_pem("k1")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/jwks.json", "http://localhost/jwks.json", "http://[::1]:9/jwks"],
)
def test_production_allows_plain_http_only_for_loopback(environ, url):
    environ(RS256_PRODUCTION_ENV | {"JWT_JWKS_URL": url})
    assert create_app().config["JWT_JWKS_URL"] == url


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"JWT_JWKS_URL": "http://idp.example.com/jwks.json"}, "JWT_JWKS_URL must use https"),
        ({"JWT_JWKS_URL": "file:///etc/jwks.json"}, "JWT_JWKS_URL must be an absolute https URL"),
        ({"JWT_PUBLIC_KEY": "not a key"}, "JWT_PUBLIC_KEY must be an RSA public key"),
        (
            {"JWT_PUBLIC_KEY": "x", "JWT_JWKS_URL": "https://idp.example.com/jwks"},
            "JWT_PUBLIC_KEY or JWT_JWKS_URL, not both",
        ),
        (
            {"JWT_JWKS_URL": "https://idp.example.com/jwks", "JWT_SECRET_KEY": "s" * 40},
            "JWT_SECRET_KEY is for HS256 tokens",
        ),
        ({"JWT_MAX_AGE_SECONDS": "0"}, "JWT_MAX_AGE_SECONDS must be a positive"),
        ({"JWT_MAX_AGE_SECONDS": "a day"}, "JWT_MAX_AGE_SECONDS must be a whole number"),
        (
            {"JWT_MAX_AGE_SECONDS": "600", "JWT_ACCESS_TOKEN_EXPIRES_SECONDS": "900"},
            "JWT_ACCESS_TOKEN_EXPIRES_SECONDS must not exceed JWT_MAX_AGE_SECONDS",
        ),
    ],
    ids=[
        "jwks-http",
        "jwks-file",
        "pem-garbage",
        "pem-and-jwks",
        "secret-and-jwks",
        "max-age-0",
        "max-age-text",
        "mint-past-max-age",
    ],
)
def test_token_settings_are_refused_by_name(environ, values, message):
    environ((PRODUCTION_ENV if "JWT_MAX_AGE_SECONDS" in values else RS256_PRODUCTION_ENV) | values)
    with pytest.raises(ConfigError, match=message):
        create_app()


def test_development_allows_a_jwks_url_over_plain_http(environ):
    environ({"BILLING_ENV": "development", "JWT_JWKS_URL": "http://keycloak:8080/certs"})
    app = create_app()
    assert app.config["JWT_SECRET_KEY"] is None  # no HS256 placeholder beside RS256
