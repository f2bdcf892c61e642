"""kapflow settings: environment-driven, safe defaults for the embedded demo.

SQLite by default; DATABASE_URL switches to PostgreSQL. REDIS_URL is optional: with it the cache
lives in Redis, without it in local memory. Production (KAPFLOW_DEBUG off and not the demo)
refuses to start without SECRET_KEY and KAPFLOW_FIELD_KEYS.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from kapflow.config.env import env_bool, env_int, env_list, env_str

PACKAGE_DIR = Path(__file__).resolve().parent.parent
BASE_DIR = PACKAGE_DIR.parent.parent

DEBUG = env_bool("KAPFLOW_DEBUG", False)
# Demo mode: the fixed demo sign-ins are not asked for MFA until they enrol a device.
KAPFLOW_DEMO_MODE = env_bool("KAPFLOW_DEMO_MODE", False)
TESTING = env_bool("KAPFLOW_TESTING", False)
DEV_CHECKOUT = env_bool("KAPFLOW_DEV", False)  # set by manage.py only

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if DEBUG or KAPFLOW_DEMO_MODE or TESTING or DEV_CHECKOUT:
        SECRET_KEY = "kapflow-insecure-demo-key-never-use-in-production"
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY is required outside demo, debug and test runs "
            "(set KAPFLOW_DEMO_MODE=1 for the demo)."
        )

# Keys for secrets kept in the database (TOTP seeds; kapflow.accounts.crypto, decision 0034):
# Fernet keys, comma-separated; the first encrypts, all decrypt. Demo, debug and test runs
# derive one from SECRET_KEY; production refuses to start without them.
KAPFLOW_FIELD_KEYS = env_list("KAPFLOW_FIELD_KEYS", [])
if not KAPFLOW_FIELD_KEYS:
    if DEBUG or KAPFLOW_DEMO_MODE or TESTING or DEV_CHECKOUT:
        import base64
        import hashlib

        KAPFLOW_FIELD_KEYS = [
            base64.urlsafe_b64encode(
                hashlib.sha256(f"kapflow-field-key:{SECRET_KEY}".encode()).digest()
            ).decode()
        ]
    else:
        raise ImproperlyConfigured(
            "KAPFLOW_FIELD_KEYS is required outside demo, debug and test runs (decision 0034)."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "kapflow.core",
    "kapflow.accounts",
    "kapflow.patients",
    "kapflow.audit",
    "kapflow.portal",
    "kapflow.courses",
    "kapflow.assessments",
    "kapflow.outcomes",
    "kapflow.prescriptions",
    "kapflow.consents",
    "kapflow.journal",
    "kapflow.alerts",
    "kapflow.messaging",
    "kapflow.scheduling",
    "kapflow.encounters",
    "kapflow.notes",
    "kapflow.outbox",
    "kapflow.amendments",
    "kapflow.billing",
    "kapflow.directory",
    "kapflow.telehealth",
    "kapflow.fhir",
    "kapflow.runtime",
    "kapflow.portability",
    "kapflow.notifications",
    "kapflow.dashboard",
    "kapflow.search",
    "kapflow.demo",
]

MIDDLEWARE = [
    # First: load-balancer probes skip sessions, auth, audit and the HTTPS redirect.
    "kapflow.runtime.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "kapflow.core.middleware.RequestIdMiddleware",
    "kapflow.runtime.middleware.RequestLogMiddleware",
    "kapflow.core.middleware.BodySizeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "kapflow.core.middleware.IdleLogoutMiddleware",
    "kapflow.accounts.middleware.ActorMiddleware",
    "kapflow.audit.middleware.DeniedAccessMiddleware",
    "kapflow.accounts.middleware.MfaRequiredMiddleware",
    "kapflow.patients.middleware.EmergencyAccessMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After CSRF, authentication and messages: a form sent twice is done once (decision 0038).
    "kapflow.core.form_tokens.FormTokenMiddleware",
    "kapflow.core.middleware.ContentSecurityPolicyMiddleware",
    "kapflow.core.middleware.NotFoundMiddleware",
    # Axes last: it reads the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

# KAPFLOW_BENCH_VIEWS adds the benchmark's baseline view (bench_urls.py, decision 0044): set
# by bench/run.py and `make bench-http`, never in production.
KAPFLOW_BENCH_VIEWS = env_bool("KAPFLOW_BENCH_VIEWS", False)
ROOT_URLCONF = "kapflow.config.bench_urls" if KAPFLOW_BENCH_VIEWS else "kapflow.config.urls"
WSGI_APPLICATION = "kapflow.config.wsgi.application"
ASGI_APPLICATION = "kapflow.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kapflow.accounts.context_processors.actor",
                "kapflow.outbox.context_processors.demo",
            ],
            # Replaces {% csrf_token %}: every POST form also carries a one-time form token.
            # |tel: every phone number shown is a link a phone can dial.
            "builtins": [
                "kapflow.core.templatetags.form_tokens",
                "kapflow.core.templatetags.phone",
            ],
        },
    }
]

DATA_DIR = Path(env_str("KAPFLOW_DATA_DIR", str(BASE_DIR / "var")))
_default_db = f"sqlite:///{DATA_DIR / 'kapflow.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", _default_db) or _default_db, conn_max_age=60
    )
}
# PostgreSQL connections per process (decision 0041): a psycopg pool of at most
# KAPFLOW_DB_POOL_MAX, shared by the threads of runserver, gunicorn and uvicorn alike (a
# persistent connection per thread leaked one connection per thread ever started). 0 turns
# the pool off: one connection per request (CONN_MAX_AGE 0), e.g. behind PgBouncer. Test
# runs keep Django's default handling unless KAPFLOW_DB_POOL_MAX is set.
KAPFLOW_DB_POOL_MAX = env_int("KAPFLOW_DB_POOL_MAX", 0 if TESTING else 4)
# Server-side binding and prepared statements (decision 0047): a query run this many times on
# one connection is prepared, and PostgreSQL plans it once instead of on every request. 0
# binds on the client and prepares nothing (PgBouncer in transaction mode before 1.21).
KAPFLOW_DB_PREPARE = env_int("KAPFLOW_DB_PREPARE", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Short OLTP queries: PostgreSQL's JIT would spend ~60 ms compiling the caseload's
    # correlated subqueries (their cost estimate crosses jit_above_cost) to save microseconds.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
    if KAPFLOW_DB_PREPARE:
        DATABASES["default"]["OPTIONS"]["server_side_binding"] = True
        DATABASES["default"]["OPTIONS"]["prepare_threshold"] = KAPFLOW_DB_PREPARE
    if KAPFLOW_DB_POOL_MAX > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": KAPFLOW_DB_POOL_MAX,
            # A request waits this long for a free connection before failing.
            "timeout": env_int("KAPFLOW_DB_POOL_TIMEOUT", 20),
            "max_idle": 300,
        }
    elif not TESTING:
        DATABASES["default"]["CONN_MAX_AGE"] = 0
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}
    if not TESTING:
        # `make serve` runs web, worker and scheduler processes on one file. WAL lets reads
        # go on beside a write; BEGIN IMMEDIATE takes the write lock when a transaction
        # starts, so a second writer waits up to `timeout` instead of failing at once (SQLite
        # cannot wait to upgrade a read lock: "database is locked" with no wait at all).
        # The test database lives in memory, shared with the live server's thread: as before.
        DATABASES["default"]["OPTIONS"] |= {
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL",
        }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# A streaming replica for reports and exports (decision 0044): DATABASE_REPLICA_URL adds the
# alias "replica", read only by the report selectors that ask for it (kapflow.core.replica);
# writes and every other read stay on "default". Same pool and options as the primary. A test
# run never creates it: it mirrors the test database, so on a real standby it reads the copy
# streamed from the primary (tests/runtime/test_replica.py, bench/replica.sh).
_replica_url = env_str("DATABASE_REPLICA_URL")
if _replica_url:
    import copy

    _replica = dj_database_url.parse(_replica_url, conn_max_age=60)
    for _key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "OPTIONS"):
        if _key in DATABASES["default"]:
            _replica[_key] = copy.deepcopy(DATABASES["default"][_key])
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = _replica
DATABASE_ROUTERS = ["kapflow.core.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # Shared by every process (decision 0041): the cache, sessions, sign-in lockouts and
    # rate limits (password reset counts), and the task queue.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("KAPFLOW_CACHE_PREFIX", "kapflow"),
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
    INSTALLED_APPS.append("django_rq")
    RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600}}
else:
    # One process's memory: fine for the demo; with several processes set REDIS_URL.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The session room's signalling (decision 0049): one process's memory for the demo and tests,
# Redis when REDIS_URL is set so that several server processes share rooms.
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env_str("KAPFLOW_CACHE_PREFIX", "kapflow") + ":room",
                "capacity": 200,
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# STUN and TURN for the room (docs/deploy.md): comma-separated turn:/turns:/stun: URLs; TURN
# credentials are minted per connection from the shared secret (coturn's REST API scheme).
TELEHEALTH_STUN_URLS = env_list("KAPFLOW_STUN_URLS", [])
TELEHEALTH_TURN_URLS = env_list("KAPFLOW_TURN_URLS", [])
TELEHEALTH_TURN_SECRET = env_str("KAPFLOW_TURN_SECRET")
TELEHEALTH_TURN_TTL = env_int("KAPFLOW_TURN_TTL", 3600)

# Background tasks (decision 0041): the database queue by default, run by `kapflow worker`;
# RQ on Redis when REDIS_URL is set; in the request itself for tests (and `make demo`, a
# single process). KAPFLOW_TASKS_BACKEND names another backend explicitly.
if TESTING:
    _tasks_backend = "django_tasks.backends.immediate.ImmediateBackend"
elif REDIS_URL:
    _tasks_backend = "kapflow.runtime.backends.RQBackend"
else:
    _tasks_backend = "django_tasks_db.DatabaseBackend"
TASKS = {"default": {"BACKEND": env_str("KAPFLOW_TASKS_BACKEND", _tasks_backend)}}
# /health/ready fails when no worker has beaten for this long (workers beat every 5 s).
KAPFLOW_WORKER_STALE_SECONDS = env_int("KAPFLOW_WORKER_STALE_SECONDS", 60)

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = (
    ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if TESTING
    else [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
    ]
)
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Lockout after repeated failures (HIPAA 164.312(a)); counted per person, from any address:
# the "username" axes sees is the user id, or the casefolded address if no one has it
# (kapflow.accounts.lockout, decision 0032).
AXES_FAILURE_LIMIT = env_int("KAPFLOW_LOCKOUT_FAILURES", 5)
AXES_COOLOFF_TIME = env_int("KAPFLOW_LOCKOUT_MINUTES", 30) / 60
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "kapflow.accounts.lockout.lockout_username"
# axes.W006 (silenced below) asks for the address among the lockout parameters. Adding it
# would lock an address after 5 failures on any accounts (a clinic behind one NAT); the
# per-person count is the point here.
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

# The audit trail's hash-chain key (decision 0033). Without it the key is derived from
# SECRET_KEY (system check audit.W001), and rotating SECRET_KEY would break verification.
KAPFLOW_AUDIT_KEY = env_str("KAPFLOW_AUDIT_KEY", "") or ""

# Sessions: idle logoff (164.312(a)(2)(iii)), absolute cap, hardened cookies.
KAPFLOW_IDLE_TIMEOUT_MINUTES = env_int("KAPFLOW_IDLE_TIMEOUT_MINUTES", 15)
SESSION_COOKIE_AGE = env_int("KAPFLOW_SESSION_MAX_HOURS", 12) * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
_https = env_bool("KAPFLOW_HTTPS", False)
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SECURE_SSL_REDIRECT = _https
SECURE_HSTS_SECONDS = 63072000 if _https else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _https else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

OTP_TOTP_ISSUER = "kapflow"
KAPFLOW_INVITATION_DAYS = env_int("KAPFLOW_INVITATION_DAYS", 7)
KAPFLOW_RECOVERY_CODES = 10
# API tokens (decision 0034): lifetime chosen at creation, at most a year.
KAPFLOW_API_TOKEN_DEFAULT_DAYS = env_int("KAPFLOW_API_TOKEN_DEFAULT_DAYS", 90)
KAPFLOW_API_TOKEN_MAX_DAYS = 365
# Password reset links (Django's token): valid for an hour, and void once used.
PASSWORD_RESET_TIMEOUT = env_int("KAPFLOW_PASSWORD_RESET_MINUTES", 60) * 60
# Reset requests per address and per client address, each within an hour (the cache counts).
KAPFLOW_PASSWORD_RESET_PER_EMAIL = env_int("KAPFLOW_PASSWORD_RESET_PER_EMAIL", 3)
KAPFLOW_PASSWORD_RESET_PER_IP = env_int("KAPFLOW_PASSWORD_RESET_PER_IP", 20)

# E-mail (decision 0039). Demo, debug and test runs keep every message in the local outbox
# (kapflow.outbox; the /outbox/ page in demo mode), and nothing is printed; pytest itself uses
# Django's locmem backend. Elsewhere the default is SMTP to EMAIL_HOST; the console backend is
# refused there (check outbox.E001).
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "kapflow.outbox.backend.OutboxBackend"
    if DEBUG or KAPFLOW_DEMO_MODE or TESTING
    else "django.core.mail.backends.smtp.EmailBackend",
)
# Outbox messages hold live links: each is deleted this many days after it was stored.
KAPFLOW_OUTBOX_DAYS = env_int("KAPFLOW_OUTBOX_DAYS", 7)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "kapflow <no-reply@kapflow.example>")
KAPFLOW_BASE_URL = env_str("KAPFLOW_BASE_URL", "http://127.0.0.1:8000")
# Appointment reminders by text message (kapflow.scheduling.sms): a dotted path to a backend.
# The console backend prints a masked number and the PHI-free text; a provider's backend
# implements the same `send(to, body)`.
KAPFLOW_SMS_BACKEND = env_str("KAPFLOW_SMS_BACKEND", "kapflow.scheduling.sms.ConsoleBackend")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Set for production (`collectstatic`); the demo serves assets straight from the finders.
STATIC_ROOT = env_str("KAPFLOW_STATIC_ROOT")
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
if STATIC_ROOT and not TESTING:
    # Served (`make serve`, production): collected once and compressed (gzip, brotli), read
    # from STATIC_ROOT. Not the manifest storage: vendored CSS points at source maps that npm
    # packages do not ship, which fails its post-processing.
    STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"}
    WHITENOISE_USE_FINDERS = False
# Uploads (message attachments) live under MEDIA_ROOT/private/ with random names and are never
# served by URL (no MEDIA_URL route): a view checks access and streams each file.
MEDIA_ROOT = Path(env_str("KAPFLOW_MEDIA_ROOT", str(DATA_DIR / "media")))
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# KAPFLOW_LOG_FORMAT=json: one JSON object per line on stdout, with the request id and the
# `extra=` fields, and one `http.request` line per request (decision 0041).
KAPFLOW_LOG_FORMAT = env_str("KAPFLOW_LOG_FORMAT", "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "phi_scrub": {"()": "kapflow.core.logging.PhiScrubFilter"},
        "request_context": {"()": "kapflow.core.logging.RequestContextFilter"},
    },
    "formatters": {
        "plain": {
            "()": "kapflow.core.logging.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "kapflow.core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout" if KAPFLOW_LOG_FORMAT == "json" else "ext://sys.stderr",
            "filters": ["request_context", "phi_scrub"],
            "formatter": "json" if KAPFLOW_LOG_FORMAT == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": env_str("KAPFLOW_LOG_LEVEL", "INFO")},
    "loggers": {
        "kapflow.request": {"level": "INFO" if KAPFLOW_LOG_FORMAT == "json" else "WARNING"},
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},  # PDF font subsetting logs every glyph at INFO
    },
}

MFA_VERIFY_URL = "/mfa/verify/"
MFA_SETUP_URL = "/mfa/setup/"

# The outcomes index covers `total` on PostgreSQL; SQLite (the demo engine) builds it without
# the covered column, which is fine.
SILENCED_SYSTEM_CHECKS = ["models.W040", "axes.W006"]
