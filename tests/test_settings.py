"""The Settings class is the one list of variables: `.env.example` and docs/configuration.md say
exactly what it says, its environment-dependent defaults hold, and its errors never show a
secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dotenv import dotenv_values

from billing_service.settings import DEVELOPMENT_JWT_SECRET, Settings, SettingsError
from billing_service.settings_docs import configuration_table

ROOT = Path(__file__).resolve().parent.parent
# A variable's line in .env.example, set (NAME=value) or commented out (# NAME=value).
VARIABLE_LINE = re.compile(r"^(?:# )?([A-Z][A-Z0-9_]*)=", re.MULTILINE)
PRODUCTION = {
    "BILLING_ENV": "production",
    "STRIPE_SECRET_KEY": "sk_live_abc",
    "STRIPE_WEBHOOK_SECRET": "whsec_abc",
    "JWT_SECRET_KEY": "a-real-secret-of-reasonable-length-0123456789",
    "FRONTEND_URL": "https://app.example.com",
}


def test_env_example_lists_every_variable_once():
    names = VARIABLE_LINE.findall((ROOT / ".env.example").read_text())
    assert sorted(names) == sorted(Settings.model_fields)


def test_env_example_comments_out_the_defaults():
    """Uncommenting a variable that has a default changes nothing: its example is the default."""
    commented = re.findall(r"^# ([A-Z][A-Z0-9_]*)=(.*)$", (ROOT / ".env.example").read_text(), re.M)
    for name, example in commented:
        default = Settings.model_fields[name].default
        if default is not None:
            assert getattr(Settings.from_environ({name: example}), name) == default, name


def test_env_example_is_a_valid_development_environment():
    values = {k: v for k, v in dotenv_values(ROOT / ".env.example").items() if v is not None}
    settings = Settings.from_environ(values, complete=True)
    assert settings.BILLING_ENV == "development"
    assert settings.FRONTEND_URL == "http://localhost:3000"


def test_configuration_page_holds_the_table_of_the_settings_class():
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert configuration_table() in page, (
        "docs/configuration.md is out of date: paste the output of "
        "`.venv/bin/python -m billing_service.settings_docs` into it"
    )
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert len(rows) == len(Settings.model_fields)


def test_every_variable_has_a_one_line_description():
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert "\n" not in field.description, name


def test_development_defaults_let_a_fresh_clone_run():
    settings = Settings.from_environ({"BILLING_ENV": "development"}, complete=True)
    assert settings.JWT_SECRET_KEY == DEVELOPMENT_JWT_SECRET
    assert (settings.FRONTEND_URL, settings.LOG_FORMAT) == ("http://localhost:3000", "text")


def test_production_has_no_placeholder_defaults():
    settings = Settings.from_environ(PRODUCTION, complete=True)
    assert settings.LOG_FORMAT == "json"
    with pytest.raises(SettingsError, match=r"Missing required .*FRONTEND_URL"):
        Settings.from_environ(PRODUCTION | {"FRONTEND_URL": ""}, complete=True)


def test_environment_variables_are_parsed_into_their_types():
    settings = Settings.from_environ(
        PRODUCTION
        | {
            "RATELIMIT_ENABLED": " off ",
            "PLANS_CACHE_SECONDS": "0.5",
            "MAX_CONTENT_LENGTH": "2048",
            "LOG_LEVEL": "debug",
            "CHECKOUT_BILLING_ADDRESS_COLLECTION": "Required",
            "JWT_AUDIENCE": "billing-api, other",
        }
    )
    assert settings.RATELIMIT_ENABLED is False
    assert (settings.PLANS_CACHE_SECONDS, settings.MAX_CONTENT_LENGTH) == (0.5, 2048)
    assert (settings.LOG_LEVEL, settings.CHECKOUT_BILLING_ADDRESS_COLLECTION) == (
        "DEBUG",
        "required",
    )
    assert settings.jwt_audiences == ["billing-api", "other"]


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("STRIPE_SECRET_KEY", "pk_live_do_not_show_me"),
        ("STRIPE_WEBHOOK_SECRET", "do_not_show_me"),
        ("JWT_SECRET_KEY", "short-do-not-show"),
        ("METRICS_TOKEN", "dontshowme"),
        ("DATABASE_URL", "mysql://billing:do_not_show_me@db/billing"),
    ],
)
def test_an_error_names_the_variable_and_never_shows_the_secret(name, secret):
    with pytest.raises(SettingsError) as error:
        Settings.from_environ(PRODUCTION | {name: secret}, complete=True)
    message = str(error.value)
    assert name in message
    assert "do_not_show" not in message and "not-show" not in message and "dontshow" not in message
    assert "\n" not in message
