"""What gunicorn serves: ``billing_service.wsgi:app`` (``wsgi:app`` from a checkout). Reads the
working directory's ``.env`` if there is one."""

from dotenv import find_dotenv, load_dotenv

from billing_service import create_app

# usecwd: the deploy's directory, not the one the package is installed in.
load_dotenv(find_dotenv(usecwd=True))
# Serving needs no flask commands nor Alembic: leaving them out keeps each worker smaller.
app = create_app(commands=False)
