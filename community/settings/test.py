"""Test settings: the same stack (DATABASE_URL / REDIS_URL when given), with fast hashing and inline tasks."""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from .base import *  # noqa: F403
from .base import CACHES, REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# Each test run gets its own cache namespace so parallel runs on one Redis never see each other's keys.
CACHES["default"]["KEY_PREFIX"] = f"hearth-test-{os.getpid()}"
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "10000/minute", "user": "100000/minute"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Several test runs may share one PostgreSQL server (developers working in parallel): a suffix keeps their test
# databases apart.
if _suffix := os.environ.get("HEARTH_TEST_DB_SUFFIX", ""):
    from .base import DATABASES

    _test_name = f"test_{DATABASES['default']['NAME']}_{_suffix}"
    DATABASES["default"]["TEST"] = {**DATABASES["default"].get("TEST", {}), "NAME": _test_name}
