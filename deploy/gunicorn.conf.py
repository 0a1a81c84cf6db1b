"""gunicorn configuration of the web process (Procfile `web`, systemd billing-web, compose `web`).

    gunicorn -c deploy/gunicorn.conf.py billing_site.wsgi:application

Every value comes from the environment, with defaults for a server of its own. Why gthread workers: a request
can wait seconds on Stripe or S3 (network I/O, the GIL released); a sync worker is a whole process (~150 MB with
Django, boto3 and reportlab) doing nothing meanwhile, while a thread of a gthread worker waits and its siblings
serve. Threads also keep idle keep-alive connections from tying up a worker. Each thread holds its own database
connection: WEB_CONCURRENCY x GUNICORN_THREADS per server must fit PostgreSQL's max_connections.
"""

import os

from billing_site.settings import env_file_read

# The same .env as the settings (DJANGO_ENV_FILE; variables already in the environment win), read before the
# values below, so that gunicorn and Django agree on the Stripe and S3 timeouts.
env_file_read()
_env = os.environ.get


def _cores() -> int:
    """CPUs this process may run on (a container's or a systemd unit's limit, not the whole machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _seconds(name: str, default: float) -> float:
    return float(_env(name) or default)


def _slowest_external_call_seconds() -> float:
    """The longest one call to Stripe or S3 may take, from the same variables (and defaults) as the settings.

    Stripe: STRIPE_TIMEOUT_SECONDS per attempt, 1 + STRIPE_MAX_NETWORK_RETRIES attempts, up to 5 s between them
    (stripe-python's longest backoff). S3: connect and read timeouts per attempt, AWS_S3_MAX_ATTEMPTS attempts,
    up to ~1 s between them. A statement is cancelled after DATABASE_STATEMENT_TIMEOUT_MS. With the defaults:
    Stripe 20 x 3 + 2 x 5 = 70 s, S3 (3 + 30) x 2 + 1 = 67 s, database 30 s.
    """
    stripe_attempts = 1 + int(_seconds("STRIPE_MAX_NETWORK_RETRIES", 2))
    stripe = _seconds("STRIPE_TIMEOUT_SECONDS", 20) * stripe_attempts + 5 * (stripe_attempts - 1)
    s3_attempts = int(_seconds("AWS_S3_MAX_ATTEMPTS", 2))
    s3 = (_seconds("AWS_S3_CONNECT_TIMEOUT", 3) + _seconds("AWS_S3_READ_TIMEOUT", 30)) * s3_attempts + s3_attempts - 1
    database = _seconds("DATABASE_STATEMENT_TIMEOUT_MS", 30000) / 1000
    return max(stripe, s3, database)


wsgi_app = "billing_site.wsgi:application"

# Where to listen: GUNICORN_BIND (e.g. unix:/run/billing/web.sock, or 127.0.0.1:8000 behind a local nginx), else
# every interface on PORT (a container, a platform that sets PORT).
bind = [_env("GUNICORN_BIND") or f"0.0.0.0:{_env('PORT') or '8000'}"]

# Processes: WEB_CONCURRENCY (the platforms' convention), else two per core; each runs GUNICORN_THREADS threads.
worker_class = "gthread"
workers = int(_env("WEB_CONCURRENCY") or 2 * _cores())
threads = int(_env("GUNICORN_THREADS") or 4)

# A worker silent for longer than this is killed and replaced. It must outlast the slowest legitimate request: one
# that waits its full time on Stripe or S3 (plus a margin for the rest of the request). 100 s with the defaults.
timeout = int(_env("GUNICORN_TIMEOUT") or _slowest_external_call_seconds() + 30)
# On SIGTERM (a deploy, a scale-down) requests in flight may finish for this long; stop timeouts of systemd
# (TimeoutStopSec) and compose (stop_grace_period) are set above it.
graceful_timeout = int(_env("GUNICORN_GRACEFUL_TIMEOUT") or timeout)
keepalive = int(_env("GUNICORN_KEEPALIVE") or 5)

# Replace each worker after about this many requests (jitter: not all at once), so that a slow leak (a PDF
# library's caches) cannot grow without bound. 0 turns it off.
max_requests = int(_env("GUNICORN_MAX_REQUESTS") or 1000)
max_requests_jitter = int(_env("GUNICORN_MAX_REQUESTS_JITTER") or max_requests // 10)

# Only these addresses may tell gunicorn the request came over HTTPS (X-Forwarded-Proto): gunicorn's own default,
# the local host (an nginx beside it). Set it to the load balancer's addresses, never "*" where clients can reach
# gunicorn directly. Django's own proxy settings (NUM_PROXIES) are separate and decide the client address.
forwarded_allow_ips = _env("FORWARDED_ALLOW_IPS") or "127.0.0.1,::1"

# Logs: gunicorn's own lines to stderr, one access line per request to stdout, both JSON (LOG_FORMAT=plain for
# gunicorn's usual lines). Each access line has the request id and acting user (billing_site.logging).
logger_class = "billing_site.logging.GunicornLogger"
errorlog = "-"
accesslog = _env("GUNICORN_ACCESS_LOG", "-") or None  # empty: no access log
loglevel = _env("GUNICORN_LOG_LEVEL") or "info"

# The heartbeat file of each worker: in memory, since a container's overlay filesystem can stall it and get
# healthy workers killed.
_MEMORY_FOLDER = "/dev/shm"  # noqa: S108 (gunicorn creates its files there with mkstemp)
if os.path.isdir(_MEMORY_FOLDER):
    worker_tmp_dir = _MEMORY_FOLDER

# gunicorn's control socket ($HOME/.gunicorn/gunicorn.ctl by default) would be shared by every gunicorn of one user
# on a host (two app servers), and the home folder is read-only under the systemd unit: off unless a path is given.
if _env("GUNICORN_CONTROL_SOCKET"):
    control_socket = _env("GUNICORN_CONTROL_SOCKET")
else:
    control_socket_disable = True
