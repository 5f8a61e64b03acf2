"""The permission matrix's expectations: one module per app (`routes/<app>.py`), each with a `ROUTES` dict.

Every URL the resolver knows (admin aside, which `test_admin_access.py` covers) must have an entry, keyed by its
namespaced URL name (`"rewards:shop_reward"`, `"api-docs"`, `"reward-detail"`) or, for an unnamed route, its pattern.
A route without an entry fails `test_every_route_has_an_entry`, naming the module to add it to.

An entry says how to visit the route and what each persona gets:

    "rewards:shop_redemption": Route(OWN_PAGE, kwargs={"pk": "redemption"}),

`kwargs` maps each URL keyword to a key of the objects the modules' `objects(world)` functions make; those objects
belong to `world.member`, so `other_member` (and staff without the right) must get 404. A module adds the objects
its routes need with an `objects(world) -> dict[str, object]` function (a model instance stands for its pk).

Whatever `member` owns is written with `world.secret` in it where there is text: no response to `other_member`
may contain that secret or `member`'s e-mail address, whatever its status.

Run `HEARTH_MATRIX_RECORD=var/matrix.txt pytest tests/security/test_permission_matrix.py` to write down what every
persona gets now (a starting point for new entries; read it before copying it).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

PERSONAS = ("anonymous", "member", "other_member", "moderator", "operator")
# Visits go in this order; the owner comes after the personas that must not reach the object.
VISIT_ORDER = ("anonymous", "other_member", "moderator", "operator", "member")


def statuses(anonymous: int, member: int, other_member: int, moderator: int, operator: int) -> dict[str, int]:
    return dict(zip(PERSONAS, (anonymous, member, other_member, moderator, operator), strict=True))


# Presets. A portal page sends anonymous visitors to log in (302); the API answers them 401.
PUBLIC = statuses(200, 200, 200, 200, 200)
MEMBER_PAGE = statuses(302, 200, 200, 200, 200)
OWN_PAGE = statuses(302, 200, 404, 404, 404)
API_MEMBER = statuses(401, 200, 200, 200, 200)
API_OWN = statuses(401, 200, 404, 404, 404)
API_OPERATOR = statuses(401, 403, 403, 403, 200)
# The object belongs to `member`, and operators may read everyone's.
API_OWN_OR_OPERATOR = statuses(401, 200, 404, 404, 200)
OPERATOR_PAGE = statuses(302, 404, 404, 404, 200)
API_OPERATOR_READ = statuses(401, 403, 403, 403, 200)


@dataclass(frozen=True)
class Route:
    expect: dict[str, int]
    kwargs: dict[str, str] = field(default_factory=dict)
    method: str = "get"
    data: dict[str, Any] = field(default_factory=dict)
    # A literal path for routes that cannot be reversed (unnamed ones).
    path: str | None = None
    # Whether an anonymous 302 must lead to the log-in page.
    login_redirect: bool = True
    note: str = ""


@dataclass(frozen=True)
class DiscoveredRoute:
    key: str
    pattern: str
    app: str


# Routes from third-party packages belong to the module of the app that mounts them.
PACKAGE_APPS = {"allauth": "community", "drf_spectacular": "community", "django": "community"}
SKIPPED_PREFIXES = ("admin/",)


def _app_of(callback: Any) -> str:
    module = getattr(callback, "__module__", "") or ""
    if hasattr(callback, "cls"):
        module = callback.cls.__module__
    elif hasattr(callback, "view_class"):
        module = callback.view_class.__module__
    top = module.split(".")[0]
    return PACKAGE_APPS.get(top, top)


def _walk(patterns: list[Any], prefix: str = "", namespace: str | None = None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace
            joined = f"{namespace}:{inner}" if namespace and inner else inner or namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), joined)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), (f"{namespace}:{entry.name}" if namespace else entry.name), entry


def discover_routes() -> list[DiscoveredRoute]:
    """Every route of the project but the admin's and DRF's `.json`-style format suffixes."""
    found: dict[str, DiscoveredRoute] = {}
    for pattern, name, entry in _walk(get_resolver().url_patterns):
        if pattern.startswith(SKIPPED_PREFIXES) or "(?P<format>" in pattern:
            continue
        key = name or pattern
        if key in found and found[key].pattern != pattern:
            key = pattern
        found[key] = DiscoveredRoute(key=key, pattern=pattern, app=_app_of(entry.callback))
    return sorted(found.values(), key=lambda route: route.key)


def route_modules() -> dict[str, Any]:
    modules = {}
    for info in pkgutil.iter_modules(__path__):
        modules[info.name] = importlib.import_module(f"{__name__}.{info.name}")
    return modules


def all_routes() -> dict[str, tuple[str, Route]]:
    """Every entry of every module, as key → (module name, entry). A key in two modules is an error."""
    merged: dict[str, tuple[str, Route]] = {}
    for name, module in route_modules().items():
        for key, route in getattr(module, "ROUTES", {}).items():
            if key in merged:
                raise AssertionError(f"{key!r} is in both routes/{merged[key][0]}.py and routes/{name}.py")
            merged[key] = (name, route)
    return merged
