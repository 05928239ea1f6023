"""What gunicorn serves: ``gunicorn wsgi:app``. Reads ``.env`` if there is one."""

from dotenv import load_dotenv

from billing_service import create_app

load_dotenv()
# Serving needs no flask commands nor Alembic: leaving them out keeps each worker smaller.
app = create_app(commands=False)
