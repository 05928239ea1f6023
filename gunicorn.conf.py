"""gunicorn reads ./gunicorn.conf.py: run from a checkout, ``gunicorn wsgi:app`` gets the service's
production settings. They live in the package (``billing_service/gunicorn_conf.py``), so an
installed wheel has them too: ``gunicorn -c python:billing_service.gunicorn_conf
billing_service.wsgi:app``.
"""

from billing_service.gunicorn_conf import *  # noqa: F403
