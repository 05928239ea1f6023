"""How many SQL statements the hot requests run, and which: each is a round trip on PostgreSQL,
and the benchmark (bench/run.py) showed round trips are most of what these requests cost. These
tests pin the statements, so a change that adds one is seen and argued for; they never measure
time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from billing_service.extensions import db
from billing_service.session import Session
from tests.conftest import PRO_PRICE
from tests.lifecycle import subscription_event


class Statements:
    def __init__(self) -> None:
        self.seen: list[str] = []
        # Each statement's whole text as the driver gets it, and its parameters.
        self.sent: list[tuple[str, object]] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        # Transaction control is not counted: PostgreSQL's BEGIN is implicit in the driver (never
        # seen here), SQLite's BEGIN IMMEDIATE is sent (tests/test_sqlite_writer.py).
        if statement != "BEGIN IMMEDIATE":
            self.seen.append(" ".join(statement.split())[:60])
            self.sent.append((statement, parameters))

    def reset(self) -> None:
        self.seen.clear()
        self.sent.clear()


@pytest.fixture
def statements(app) -> Iterator[Statements]:
    recorder = Statements()
    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", recorder)
    yield recorder
    sa.event.remove(engine, "before_cursor_execute", recorder)


@pytest.fixture
def customer(database, seeded_plans) -> str:
    database.add_user("u1", email="u1@example.com", name="Ann", stripe_customer_id="cus_u1")
    return "u1"


def test_reading_a_subscription_is_one_statement(client, token_for, customer, statements):
    client.get("/api/billing/plans")  # its plan comes from the plans every worker keeps
    statements.reset()
    r = client.get("/api/billing/subscription", headers=token_for("u1", email="u1@example.com"))
    assert r.status_code == 200
    assert len(statements.seen) == 1, statements.seen


def test_reading_a_paying_users_subscription_is_one_statement(
    client, token_for, customer, send_event, statements
):
    _after(send_event, statements, subscription_event("customer.subscription.created", at=0))
    client.get("/api/billing/plans")
    statements.reset()
    r = client.get("/api/billing/subscription", headers=token_for("u1", email="u1@example.com"))
    assert (r.json["subscription_tier"], r.json["plan_id"]) == ("pro", "pro")
    # The user's row, joined by key to the shown subscription for its price (hence its plan).
    assert len(statements.seen) == 1, statements.seen


def test_the_plan_list_is_read_once_then_from_memory(client, seeded_plans, statements):
    client.get("/api/billing/plans")
    statements.reset()
    assert len(client.get("/api/billing/plans").json) == 3
    assert statements.seen == []


def test_checkout_for_a_known_customer_reads_the_user_then_locks_it(
    client, token_for, customer, use_double, statements, database
):
    client.get("/api/billing/plans")  # a pricing page came first: the plans are in memory
    statements.reset()
    r = client.post(
        "/api/billing/create-checkout-session",
        json={"price_id": PRO_PRICE},
        headers=token_for("u1", email="u1@example.com"),
    )
    assert r.status_code == 200, r.json
    # The user (a subscribed one is answered 409 from this read alone); the price is checked
    # against the plan list in memory, and the customer exists. Then the user's lock, which
    # makes one user's checkouts take turns (no two open sessions: nobody billed twice); SQLite
    # ignores FOR UPDATE, and there the transaction holds the write lock from its BEGIN.
    assert [statement.split()[0] for statement in statements.seen] == ["SELECT"] * 2


def _kinds(seen: list[str]) -> list[str]:
    return [" ".join(statement.split()[:3]) for statement in seen]


def _after(send_event, statements: Statements, event: dict) -> None:  # type: ignore[no-untyped-def]
    """Deliver ``event`` first, then count only what follows."""
    assert send_event(event).status_code == 200
    statements.reset()


# What a subscription event costs, statement by statement (the first words of each):
CLAIM_AND_OWNER = [
    # The ledger claims the event: INSERT ... ON CONFLICT DO NOTHING RETURNING (a known event
    # gets no row back; see the redelivery below).
    "INSERT INTO stripe_events",
    # The owner, by the stored subscription or by its customer, locked (FOR UPDATE), with the
    # subscription's stored status. A statement of its own: the next one's snapshot, taken once
    # the lock is held, shows every subscription of the user committed before.
    "SELECT users.id, subscriptions.status",
]
APPLIED = {
    # The watermarked upsert and the summary, one statement: WITH written AS (INSERT ... ON
    # CONFLICT DO UPDATE ... WHERE newer RETURNING ...), the user's subscriptions with the
    # written one in place of its stored row, the one that matters now, UPDATE users ... FROM it;
    # SELECT what was written with its tier, what is shown, how many are live (two would be
    # billed twice). Nothing written (stale, a tie): no row, and the summary is left alone.
    "postgresql": [*CLAIM_AND_OWNER, "WITH written AS"],
    # The same in two (no data-modifying WITH on SQLite, whose statements cost no round trip):
    # the upsert, RETURNING what it wrote and its price's tier; then UPDATE users ... FROM the
    # subscription that matters now, RETURNING how many of the user's subscriptions are live.
    "sqlite": [*CLAIM_AND_OWNER, "INSERT INTO subscriptions", "UPDATE users SET"],
}


@pytest.fixture
def applied(database) -> list[str]:
    return APPLIED[database.dialect]


def test_a_new_subscription_event_takes_three_or_four_statements(
    send_event, customer, statements, applied
):
    event = subscription_event("customer.subscription.created", at=0)
    assert send_event(event).json == {"received": True, "outcome": "processed"}
    # A subscription that has just become live, the user's only one: the summary's count said so.
    assert _kinds(statements.seen) == applied, statements.seen


def test_a_second_live_subscription_is_listed_for_the_operator(
    send_event, customer, statements, caplog, applied
):
    _after(send_event, statements, subscription_event("customer.subscription.created", at=0))
    second = subscription_event("customer.subscription.created", at=5, sub="sub_second")
    assert send_event(second).json == {"received": True, "outcome": "processed"}
    # The summary counted two live ones: only then are they read, by id, for the error line.
    assert _kinds(statements.seen) == [*applied, "SELECT subscriptions.id FROM"], statements.seen
    assert "u1 has 2 live subscriptions" in caplog.text


def test_an_update_of_a_known_subscription_takes_three_or_four_statements(
    send_event, customer, statements, applied
):
    _after(send_event, statements, subscription_event("customer.subscription.created", at=0))
    event = subscription_event("customer.subscription.updated", at=10, cancel_at_period_end=True)
    assert send_event(event).json == {"received": True, "outcome": "processed"}
    # The same work as bench/reference_app.py does, in as many statements on SQLite and one
    # fewer on PostgreSQL.
    assert _kinds(statements.seen) == applied, statements.seen


def test_a_redelivery_takes_two_statements_and_locks_nothing(app, send_event, customer, statements):
    event = subscription_event("customer.subscription.created", at=0)
    _after(send_event, statements, event)
    with app.app_context():
        engine = db.engine
    endings: list[str] = []
    for ending in ("commit", "rollback"):
        sa.event.listen(engine, ending, lambda conn, ending=ending: endings.append(ending))
    assert send_event(event).json == {"received": True, "outcome": "duplicate"}
    assert _kinds(statements.seen) == [
        # INSERT ... ON CONFLICT DO NOTHING: the event is known.
        "INSERT INTO stripe_events",
        # UPDATE ... WHERE status = 'failed': it is done, so nothing is claimed (or locked).
        "UPDATE stripe_events SET",
    ], statements.seen
    # It sets what a retry changes, not the event's id, type or date again.
    update = statements.sent[1][0]
    assigned = update[update.index(" SET ") : update.index(" WHERE ")]
    assert [c for c in ("id", "type", "stripe_created_at") if f" {c}=" in assigned] == [], update
    # Committed (it wrote nothing), not rolled back: on a ROLLBACK psycopg deallocates every
    # statement it had prepared on the connection, and the deliveries after it were planned anew.
    assert endings == ["commit"]


REFUSED = {
    # The upsert's WHERE refused it (no summary then), and the same statement read the stored
    # row, which says why (stale).
    "postgresql": [*CLAIM_AND_OWNER, "WITH written AS"],
    # The upsert's WHERE refused it (no summary then); one read says why (stale).
    "sqlite": [
        *CLAIM_AND_OWNER,
        "INSERT INTO subscriptions",
        "SELECT subscriptions.user_id, subscriptions.status,",
    ],
}


def test_a_stale_event_is_told_by_the_upsert_and_writes_nothing_more(
    send_event, customer, statements, database
):
    _after(send_event, statements, subscription_event("customer.subscription.created", at=10))
    event = subscription_event("customer.subscription.updated", at=0, status="past_due")
    assert send_event(event).json == {"received": True, "outcome": "ignored"}
    # Then the ledger says so.
    refused = REFUSED[database.dialect]
    assert _kinds(statements.seen) == [*refused, "UPDATE stripe_events SET"], statements.seen
    assert database.event(event["id"])["outcome_reason"].startswith("stale")


def test_a_stale_event_leaves_the_users_row_as_it_was(send_event, customer, database):
    earlier = subscription_event("customer.subscription.created", at=5, sub="sub_earlier")
    for event in (earlier, subscription_event("customer.subscription.created", at=10)):
        assert send_event(event).status_code == 200
    before = database.user("u1")
    event = subscription_event("customer.subscription.updated", at=0, status="past_due")
    assert send_event(event).json == {"received": True, "outcome": "ignored"}
    # Not even rewritten with the same summary (on PostgreSQL the summary's UPDATE is part of
    # the upsert's statement, and runs only on what the upsert wrote): its updated_at says so.
    assert database.user("u1") == before


def test_a_subscription_event_builds_no_orm_session(send_event, customer, monkeypatch):
    """Its statements are Core, on the transaction's own connection: the session (its unit of
    work, its transaction object, its identity map) was a third of the calls the service added
    to an event over bench/reference_app.py's (bench/results/NOTES.md)."""
    built: list[Session] = []
    plain_init = Session.__init__

    def counted_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(self)
        plain_init(self, *args, **kwargs)

    _after(send_event, Statements(), subscription_event("customer.subscription.created", at=0))
    monkeypatch.setattr(Session, "__init__", counted_init)
    event = subscription_event("customer.subscription.updated", at=10, cancel_at_period_end=True)
    assert send_event(event).json == {"received": True, "outcome": "processed"}
    assert built == []


@pytest.mark.postgres_only
def test_every_hot_statement_is_one_psycopg_parses_once(
    client, token_for, send_event, customer, statements
):
    """psycopg turns a statement's ``%(name)s`` placeholders into PostgreSQL's ``$1`` by parsing
    its text, and caches what it parsed only for a text of at most 4,096 bytes with at most 50
    parameters: a longer one is parsed again on every execution. When the webhook's upsert and
    summary statement grew to 4,162 bytes, that parse was about 110 us of every applied event
    (bench/results/NOTES.md)."""
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH, MAX_CACHED_STATEMENT_PARAMS

    created = subscription_event("customer.subscription.created", at=10)
    for event in (
        created,
        subscription_event("customer.subscription.updated", at=20, cancel_at_period_end=True),
        subscription_event("customer.subscription.updated", at=0, status="past_due"),  # stale
        created,  # a redelivery
    ):
        assert send_event(event).status_code == 200
    headers = token_for("u1", email="u1@example.com")
    assert client.get("/api/billing/subscription", headers=headers).status_code == 200
    kinds = set(_kinds(statements.seen))
    assert {"WITH written AS", "SELECT users.id, subscriptions.status"} <= kinds, kinds
    for statement, parameters in statements.sent:
        assert len(statement.encode()) <= MAX_CACHED_STATEMENT_LENGTH, statement
        assert len(parameters or ()) <= MAX_CACHED_STATEMENT_PARAMS, statement
