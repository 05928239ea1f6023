"""Extensions are created here, unbound, and bound to an app in ``create_app``.

Flask-Migrate is the exception: it is bound only to apps that carry the ``flask`` commands (see
``create_app``), so that serving workers never import Alembic.
"""

from __future__ import annotations

from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so that migrations can drop and alter them the same way on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
jwt = JWTManager()
# Limits are per route (see billing.rate_limits); nothing is limited by default.
limiter = Limiter(key_func=get_remote_address)
cors = CORS()


def configure_sqlite(dbapi_connection, _connection_record) -> None:  # type: ignore[no-untyped-def]
    """Per-connection SQLite settings: enforce foreign keys (off by default in SQLite) and use
    write-ahead logging, so readers never wait for a writer (several gunicorn workers)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
