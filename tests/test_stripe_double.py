"""The Stripe double is only worth trusting while it refuses what Stripe refuses.

If its validation silently accepted everything, every test of what the service sends to Stripe
would pass without checking anything; these checks (driven with the real SDK) make that fail.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.stripe_double import selfcheck


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
