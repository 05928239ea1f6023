"""gunicorn's production defaults for the billing service. From a checkout, ``gunicorn wsgi:app``
reads them through ./gunicorn.conf.py; from an installed wheel, pass them by module name:
``gunicorn -c python:billing_service.gunicorn_conf billing_service.wsgi:app``.

Tune with environment variables: WEB_CONCURRENCY (worker processes), PORT (listen port), and
anything else through gunicorn's own GUNICORN_CMD_ARGS (e.g. ``--timeout 90``), which overrides
this file. FORWARDED_ALLOW_IPS (gunicorn's) names the proxies trusted for X-Forwarded-Proto.
"""

import os
import sys

from dotenv import find_dotenv, load_dotenv

from billing_service.config import environment_problem

# As billing_service.wsgi does (the working directory's .env), so WEB_CONCURRENCY and PORT may
# live in .env like every other setting.
load_dotenv(find_dotenv(usecwd=True))

# Checked here, in the master, before any worker forks: otherwise every worker dies on its own
# traceback and gunicorn ends with "Worker failed to boot", the variable's name buried above.
_problem = environment_problem(os.environ)
if _problem:
    sys.exit(f"Error: {_problem}")

# Sync workers, one request at a time each: the service's work is short (a few SQL statements and
# at most a couple of Stripe calls), and processes keep one slow Stripe call from stalling others.
# gunicorn's rule of thumb, 2 x cores + 1, capped: every worker holds its own database pool
# (up to 15 PostgreSQL connections), and a big host should not exhaust the server's connections.
MAX_DEFAULT_WORKERS = 8
workers = int(
    os.environ.get("WEB_CONCURRENCY") or min(2 * (os.cpu_count() or 1) + 1, MAX_DEFAULT_WORKERS)
)

# All interfaces, for a container or behind a reverse proxy on another host. Bind to 127.0.0.1
# (GUNICORN_CMD_ARGS="--bind 127.0.0.1:8000") when the proxy runs on the same host.
bind = f"0.0.0.0:{os.environ.get('PORT') or '8000'}"

# A request's Stripe calls, retries included, end by STRIPE_REQUEST_DEADLINE_SECONDS (30): a worker
# killed before that drops the connection instead of answering 504, so allow a minute.
timeout = 60
# On a deploy (SIGTERM), let requests in flight finish.
graceful_timeout = 30
# Behind a proxy that keeps connections to us open (only used by threaded/async workers).
keepalive = 5
# No recycling of workers after N requests: a new worker boots for ~0.3 s, and at 1,000 requests
# it stalled a busy worker every second (p99 went from 2 ms to 500 ms in the benchmark). The service
# has no known memory growth; if one appears, set GUNICORN_CMD_ARGS="--max-requests 100000
# --max-requests-jitter 10000" while it is found.
max_requests = 0

# No gunicorn access log: the app logs one line per request itself (web/request_log.py), in the
# same format as every other line (JSON in production), with what gunicorn cannot know: the
# request id, the user id and Stripe's request ids. A second, differently shaped line per request
# would double the volume and split the story.
accesslog = None
# gunicorn's own messages (boot, worker timeouts) to stderr, like the app's.
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# gunicorn 23+ opens a control socket at one fixed path per user ($HOME/.gunicorn/gunicorn.ctl):
# two instances on a host (a blue/green deploy, the test suite) would take it from each other, and
# the service needs none of its commands.
control_socket_disable = True


def on_starting(server):
    """Refuse to start when the worker timeout (this file's, or GUNICORN_CMD_ARGS') would kill
    workers before STRIPE_REQUEST_DEADLINE_SECONDS ends their Stripe calls."""
    from billing_service.config import ConfigError, check_worker_timeout

    try:
        check_worker_timeout(os.environ, server.cfg.timeout)
    except ConfigError as error:
        raise SystemExit(f"Error: {error}") from None


def post_worker_init(worker):
    """gunicorn's own 400/414/431 answers as JSON with an X-Request-ID, like the app's."""
    from billing_service.web.gunicorn_errors import install

    install()


def child_exit(server, worker):
    """A worker died (or was recycled): with PROMETHEUS_MULTIPROC_DIR set, tell prometheus_client,
    so its live gauges stop counting that process; its counters and histograms stay, summed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
