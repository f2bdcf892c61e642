"""gunicorn's configuration for kapflow's web process: `gunicorn -c python:kapflow.config.gunicorn`.

The web process serves the ASGI application (HTTP and, for the session room, WebSockets)
with uvicorn workers (decision 0041). Everything comes from the environment:

- KAPFLOW_BIND (127.0.0.1:8000): address and port; put a TLS proxy in front (docs/deploy.md).
- KAPFLOW_WEB_WORKERS (the number of CPUs): processes. Each holds at most
  KAPFLOW_DB_POOL_MAX PostgreSQL connections (config/settings.py).
- KAPFLOW_WEB_WORKER_CLASS (kapflow.runtime.web.UvicornWorker): `sync` or `gthread` serve the
  WSGI application instead (no WebSockets), as measured in decision 0041.
- KAPFLOW_WEB_THREADS (4): threads per process for `gthread`.
- KAPFLOW_WEB_TIMEOUT (60): seconds before a stuck worker is restarted.
- KAPFLOW_FORWARDED_ALLOW_IPS (127.0.0.1): proxies whose X-Forwarded-For / -Proto are
  trusted, so lockout and audit rows see the client's address.
"""

import os

from kapflow.config.env import env_int, env_str

bind = [env_str("KAPFLOW_BIND", "127.0.0.1:8000")]
workers = env_int("KAPFLOW_WEB_WORKERS", os.cpu_count() or 1)
worker_class = env_str("KAPFLOW_WEB_WORKER_CLASS", "kapflow.runtime.web.UvicornWorker")
threads = env_int("KAPFLOW_WEB_THREADS", 4)
_asgi = worker_class in ("asgi", "uvicorn") or "Uvicorn" in worker_class
wsgi_app = "kapflow.config.asgi:application" if _asgi else "kapflow.config.wsgi:application"

timeout = env_int("KAPFLOW_WEB_TIMEOUT", 60)
graceful_timeout = 30
keepalive = 5
# Recycle each process now and then, so a slow leak cannot grow for ever.
max_requests = env_int("KAPFLOW_WEB_MAX_REQUESTS", 20000)
max_requests_jitter = max_requests // 10
forwarded_allow_ips = env_str("KAPFLOW_FORWARDED_ALLOW_IPS", "127.0.0.1")
# kapflow logs one `http.request` line per request itself (route name, not path).
accesslog = None
errorlog = "-"
loglevel = env_str("KAPFLOW_LOG_LEVEL", "info").lower()
proc_name = "kapflow-web"

if env_str("KAPFLOW_LOG_FORMAT", "plain") == "json":
    # gunicorn's and uvicorn's own lines (start, stop, worker restarts) as JSON too.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "kapflow.core.logging.JsonFormatter"}},
        # gunicorn merges this into its own defaults, whose root logger uses "console".
        "handlers": {
            name: {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
            for name in ("console", "error_console")
        },
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False}
        },
    }
