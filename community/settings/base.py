"""Settings shared by every environment; every deploy-specific value comes from the environment."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from community.env import env_bool, env_choice, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("HEARTH_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-change-me" if DEBUG else None)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_ID = 1

INSTALLED_APPS = [
    "community.admin_config.HearthAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.sites",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "community",
    "members",
    "feedback",
    "rewards",
    "analytics",
    "engage",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "community.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "community.middleware.MemberTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "community.urls"
WSGI_APPLICATION = "community.wsgi.application"
ASGI_APPLICATION = "community.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "community.context_processors.portal",
            ],
        },
    },
]

# Database: DATABASE_URL, or a SQLite file in the project so a fresh checkout runs with no server.
_database_url = env_url("DATABASE_URL", schemes=("postgres", "postgresql", "sqlite"))
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "hearth.sqlite3"}}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, worker and beat share one file: wait for locks and take write locks up front.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Covering indexes (INCLUDE columns) serve the analytics rollups on PostgreSQL; SQLite, the development default,
# builds them without those columns, which is all it needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
AUTH_USER_MODEL = "members.User"

# Redis backs the cache and the Celery broker when REDIS_URL is set; otherwise nothing needs a server.
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss"))
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis cache, one client per pool (see community.cache).
            "BACKEND": "community.cache.PooledClientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "hearth"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hearth"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# Internationalisation: English and Simplified Chinese, both complete.
LANGUAGE_CODE = env_choice("LANGUAGE_CODE", "en", ("en", "zh-hans"))
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"TIME_ZONE must be an IANA time zone such as Asia/Shanghai, got {TIME_ZONE!r}."
    ) from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it even before collectstatic
STATICFILES_DIRS = [BASE_DIR / "community" / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# Email
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Hearth <community@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Accounts (django-allauth): email log-in, mandatory verification, rate limits on.
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "portal:home"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_choice("ACCOUNT_EMAIL_VERIFICATION", "mandatory", ("mandatory", "optional", "none"))
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SIGNUP_FORM_CLASS = "members.forms.SignupProfileForm"
ACCOUNT_ADAPTER = "members.adapters.AccountAdapter"
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
}

# REST API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "community.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "community.api.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "community.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "community.api.throttling.AnonRateThrottle",
        "community.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "60/minute"),
        "user": env_str("API_THROTTLE_USER", "6000/minute"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_VERSIONING_CLASS": None,
    "EXCEPTION_HANDLER": "community.api.errors.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hearth API",
    "DESCRIPTION": "Core-user community platform: members, feedback, rewards and analytics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
    # Swagger UI and Redoc are served from the app itself, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI would otherwise send the schema's address to an outside validator.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Every operation documents 400/401/403/404 (public ones 400/404), however its view was written.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "community.api.schema.add_standard_error_responses",
    ],
}

# Celery: Redis when configured, otherwise a SQLite-backed broker that needs no server.
CELERY_BROKER_URL = REDIS_URL or f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The one place the periodic schedule is defined; beat copies it into the database, where operators edit it.
CELERY_BEAT_SCHEDULE = {
    "members-segments-recompute": {
        "task": "members.tasks.members_segment_recompute_task",
        "schedule": crontab(hour=1, minute=40),
    },
    "integrations-webhooks-enqueue-due": {
        "task": "integrations.tasks.webhook_deliveries_enqueue_due",
        "schedule": crontab(minute="*"),
    },
    "integrations-webhooks-log-prune": {
        "task": "integrations.tasks.webhook_log_prune",
        "schedule": crontab(hour=5, minute=20),
    },
    "notifications-send-pending-email": {
        "task": "community.tasks.notification_emails_send_pending",
        "schedule": crontab(minute="*/10"),
    },
    "rewards-leaderboards-freeze": {
        "task": "rewards.tasks.leaderboards.leaderboards_freeze_finished",
        "schedule": crontab(hour=0, minute=5),
    },
    "rewards-points-expiry": {"task": "rewards.tasks.shop.points_expiry_run", "schedule": crontab(hour=2, minute=15)},
    "rewards-leaderboards-rebuild": {
        "task": "rewards.tasks.leaderboards.leaderboards_rebuild",
        "schedule": crontab(hour=3, minute=10),
    },
    "rewards-ledger-verify": {"task": "rewards.tasks.ledger.ledger_verify", "schedule": crontab(hour=3, minute=30)},
    "rewards-badges-evaluate-all": {
        "task": "rewards.tasks.badges.badges_evaluate_all",
        "schedule": crontab(hour=4, minute=0),
    },
    "rewards-levels-review": {
        "task": "rewards.tasks.points.levels_review_daily",
        "schedule": crontab(hour=4, minute=15),
    },
    "rewards-idempotency-prune": {
        "task": "rewards.tasks.points.idempotency_records_prune",
        "schedule": crontab(hour=4, minute=45),
    },
    "feedback-sla-check": {"task": "feedback.tasks.feedback_sla_check", "schedule": crontab(minute="*/30")},
    "rewards-points-expiry-warn": {
        "task": "rewards.tasks.shop.points_expiry_warn",
        "schedule": crontab(hour=10, minute=0),
    },
    # Engagement: reminders and scheduled messages often; retention jobs once a day (each run logged, idempotent).
    "engage-event-reminders": {"task": "engage.tasks.event_reminders_send", "schedule": crontab(minute="*/15")},
    "engage-operator-messages-due": {
        "task": "engage.tasks.operator_messages_send_due",
        "schedule": crontab(minute="*/5"),
    },
    "engage-quiet-members": {
        "task": "engage.tasks.retention_job",
        "schedule": crontab(hour=6, minute=0),
        "args": ("quiet_members",),
    },
    "engage-leavers": {
        "task": "engage.tasks.retention_job",
        "schedule": crontab(hour=6, minute=10),
        "args": ("leavers",),
    },
    "engage-unanswered-questions": {
        "task": "engage.tasks.retention_job",
        "schedule": crontab(minute=20),
        "args": ("unanswered_questions",),
    },
    "engage-onboarding": {
        "task": "engage.tasks.retention_job",
        "schedule": crontab(hour=5, minute=40),
        "args": ("onboarding",),
    },
    "engage-weekly-digest": {
        "task": "engage.tasks.retention_job",
        "schedule": crontab(hour=9, minute=0, day_of_week=1),
        "args": ("weekly_digest",),
    },
    "notifications-digest-daily": {
        "task": "community.tasks.notification_digests_send",
        "schedule": crontab(hour=8, minute=0),
        "args": ("daily",),
    },
    "notifications-digest-weekly": {
        "task": "community.tasks.notification_digests_send",
        "schedule": crontab(hour=8, minute=5, day_of_week=1),
        "args": ("weekly",),
    },
    "analytics-rollups-recent": {"task": "analytics.tasks.rollups_refresh_recent", "schedule": crontab(minute="*/15")},
    "analytics-rollups-nightly": {"task": "analytics.tasks.rollups_nightly", "schedule": crontab(hour=1, minute=30)},
    "analytics-kpi-targets-check": {
        "task": "analytics.tasks.kpi_targets_check_daily",
        "schedule": crontab(hour=5, minute=30),
    },
    "analytics-weekly-report": {
        "task": "analytics.tasks.weekly_report_send",
        "schedule": crontab(hour=8, minute=0, day_of_week=1),
    },
}

# Webhooks out (integrations): per-request timeouts, retries with exponential back-off, automatic switch-off.
HEARTH_WEBHOOK_CONNECT_TIMEOUT = float(env_int("WEBHOOK_CONNECT_TIMEOUT", 5, minimum=1))
HEARTH_WEBHOOK_READ_TIMEOUT = float(env_int("WEBHOOK_READ_TIMEOUT", 10, minimum=1))
HEARTH_WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 10, minimum=1)
HEARTH_WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 30, minimum=1)
HEARTH_WEBHOOK_RETRY_MAX_SECONDS = 6 * 3600
HEARTH_WEBHOOK_DISABLE_AFTER = env_int("WEBHOOK_DISABLE_AFTER", 20, minimum=1)
HEARTH_WEBHOOK_LOG_KEEP_DAYS = env_int("WEBHOOK_LOG_KEEP_DAYS", 30, minimum=1)

HEARTH_NOTIFICATION_EMAIL_MAX_ATTEMPTS = env_int("NOTIFICATION_EMAIL_MAX_ATTEMPTS", 5, minimum=1)
HEARTH_HEALTH_BROKER_TIMEOUT = 2.0

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

ADMIN_SITE_HEADER = _("Hearth operations")

# How long a process keeps its copy of the point rules, level ladder and active badges (read on every award);
# a change reaches other processes within this many seconds (see rewards.services.config_cache).
REWARDS_CONFIG_LOCAL_SECONDS = float(env_int("REWARDS_CONFIG_LOCAL_SECONDS", 5, minimum=0))
# How long a process keeps an API token it has looked up, with its account, profile and groups (read on every API
# call). A revocation or a role change applies at once in the process that made it, and in the others within this
# many seconds; 0 looks the token up on every call (see community.authentication).
API_TOKEN_CACHE_SECONDS = float(env_int("API_TOKEN_CACHE_SECONDS", 5, minimum=0))
