"""What gunicorn serves from a checkout: ``gunicorn wsgi:app``; see ``billing_service/wsgi.py``."""

from billing_service.wsgi import app  # noqa: F401
