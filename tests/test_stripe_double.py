"""The Stripe double is only worth trusting while it refuses what Stripe refuses.

If its validation silently accepted everything, every test of what the service sends to Stripe
would pass without checking anything; these checks (driven with the real SDK) make that fail.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests

from tests.stripe_double import StripeDouble, selfcheck


@pytest.mark.parametrize(
    "check",
    [
        selfcheck.check_happy_path,
        selfcheck.check_checkout_session_states,
        selfcheck.check_refusals,
        selfcheck.check_injection,
        selfcheck.check_idempotency_race,
        selfcheck.check_allow_list,
    ],
    ids=lambda check: check.__name__.removeprefix("check_"),
)
def test_double_behaves_like_stripe(_double_server, check):
    _double_server.reset()
    try:
        check(_double_server)
    finally:
        _double_server.reset()


def test_events_and_fixtures_have_stripes_shapes(openapi_dir):
    selfcheck.check_events_and_fixtures()


def test_a_failed_self_check_shows_its_values():
    """The checks are plain asserts in a helper module; unless pytest rewrites that module, a
    failure says "no violation recorded" without the values that tell why."""
    double = SimpleNamespace(violations=[])  # a double that recorded nothing

    def refused() -> None:
        raise ValueError("refused")

    with pytest.raises(AssertionError) as failure:
        selfcheck.expect_refusal(double, refused, ValueError, None)
    assert "assert 0 >= 1" in str(failure.value)


def test_without_the_2026_fixtures_only_current_shapes_are_refused(
    openapi_dir, tmp_path, monkeypatch
):
    """A machine with only the two fetchable files runs everything built on 2022 shapes; a
    request for a current shape gets a 500 naming the missing file, which the suite turns into a
    skip of the test that made it (tests/conftest.py)."""
    for name in ("spec3.json", "fixtures3.json"):
        (tmp_path / name).symlink_to(openapi_dir / name)
    monkeypatch.setenv("STRIPE_OPENAPI_DIR", str(tmp_path))
    double = StripeDouble(tmp_path).start()
    try:

        def create_customer(stripe_version: str) -> requests.Response:
            return requests.post(
                f"{double.url}/v1/customers",
                data={"email": "u1@example.com"},
                headers={"Authorization": "Bearer sk_test_x", "Stripe-Version": stripe_version},
                timeout=10,
            )

        old = create_customer("2022-11-15")
        assert old.status_code == 200 and "current_period_end" not in old.json()
        assert double.missing_reference_files == []
        current = create_customer("2026-10-28.endive")
        assert current.status_code == 500
        assert "fixtures3-2026.json" in current.json()["error"]["message"]
        assert len(double.missing_reference_files) == 1
        assert double.violations == []
    finally:
        double.stop()
