"""The test suite. pytest shows the values in a failed assert only in modules it rewrites: test
files and conftest.py by default, and these helpers, whose checks are plain asserts too."""

try:
    import pytest
except ImportError:  # `python3 dev.py fetch-stripe-spec` imports this package before .venv exists
    pass
else:
    pytest.register_assert_rewrite("tests.stripe_double.selfcheck")
