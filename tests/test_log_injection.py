"""Text logs cannot be forged: what a client sends never starts a line of its own."""

from __future__ import annotations

import pytest

from billing_service import create_app

FORGED = "12:00:00 INFO billing_service.requests: POST /api/billing/webhook 200"


@pytest.fixture
def text_logged(app):
    keys = ("BILLING_ENV", "SQLALCHEMY_DATABASE_URI", "JWT_SECRET_KEY", "FRONTEND_URL")
    return create_app({key: app.config[key] for key in keys} | {"LOG_FORMAT": "text"})


@pytest.mark.parametrize("control", ["%0A", "%0D", "%0D%0A", "%1B[2K%0D", "%C2%85", "%E2%80%A8"])
def test_a_path_cannot_forge_a_text_log_line(text_logged, capsys, control):
    capsys.readouterr()
    r = text_logged.test_client().get(f"/api/billing/nothing{control}{FORGED.replace(' ', '%20')}")
    assert r.status_code == 404
    output = capsys.readouterr().err
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert "404" in lines[0] and FORGED in lines[0]
    assert not any(ch.isprintable() is False for ch in lines[0]), repr(lines[0])


def test_an_exception_message_cannot_forge_a_text_log_line(text_logged, capsys):
    @text_logged.get("/boom")
    def boom():
        raise ValueError(f"bad input\n{FORGED}")

    capsys.readouterr()
    assert text_logged.test_client().get("/boom").status_code == 500
    lines = capsys.readouterr().err.splitlines()
    forged = [line for line in lines if line.startswith(FORGED[:8])]
    assert all("Unhandled error" in line or "GET /boom 500" in line for line in forged), lines
