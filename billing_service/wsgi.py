"""What gunicorn serves: ``billing_service.wsgi:app`` (``wsgi:app`` from a checkout). Reads the
working directory's ``.env`` if there is one."""

import gc

from dotenv import find_dotenv, load_dotenv

from billing_service import create_app

# usecwd: the deploy's directory, not the one the package is installed in.
load_dotenv(find_dotenv(usecwd=True))
# Serving needs no flask commands nor Alembic: leaving them out keeps each worker smaller.
app = create_app(commands=False)
# What start-up created (~110,000 objects: modules, classes, tables, models) lives as long as the
# worker: set it aside, so that the collections made while serving only look at what requests
# create (a full collection walked all of it: 40-170 ms). The few hundred objects of cyclic garbage
# start-up leaves are set aside with it, for good.
gc.freeze()
