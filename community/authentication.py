from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from community import roles
from community.api.permissions import TokenHasScope, token_scope_allows
from community.models import ApiToken
from community.services import api_token_hash
from members.models import Member, User

# last_used_at is written at most this often per token, so a busy integration does not write on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _columns(model: type[models.Model]) -> list[models.Field]:
    return list(model._meta.concrete_fields)


_TOKEN, _USER, _MEMBER = _columns(ApiToken), _columns(User), _columns(Member)


def _token_query(vendor: str) -> str:
    def select(alias: str, fields: list[models.Field]) -> str:
        return ", ".join(f'{alias}."{field.column}"' for field in fields)

    # The account's group names ride along as a JSON array: operator endpoints check the role on every call.
    groups = "json_agg(g.name)" if vendor == "postgresql" else "json_group_array(g.name)"
    through = User.groups.through._meta.db_table
    group_table = User.groups.field.related_model._meta.db_table
    return (
        f"SELECT {select('t', _TOKEN)}, {select('u', _USER)}, {select('m', _MEMBER)}, "  # noqa: S608
        f'(SELECT {groups} FROM "{group_table}" g JOIN "{through}" ug ON ug."group_id" = g."id" '
        f'WHERE ug."user_id" = u."id") '
        f'FROM "{ApiToken._meta.db_table}" t JOIN "{User._meta.db_table}" u ON u."id" = t."user_id" '
        f'LEFT JOIN "{Member._meta.db_table}" m ON m."user_id" = u."id" WHERE t."key_hash" = %s'
    )


_TOKEN_QUERIES: dict[str, str] = {}
_CONVERTERS: dict[str, list[tuple[int, list[Any], Any]]] = {}


def _converters() -> list[tuple[int, list[Any], Any]]:
    """The columns that need converting from what the driver returns, as the ORM's compiler finds them."""
    found = _CONVERTERS.get(connection.vendor)
    if found is None:
        found = []
        for index, field in enumerate([*_TOKEN, *_USER, *_MEMBER]):
            column = field.get_col(field.model._meta.db_table)
            converters = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
            if converters:
                found.append((index, converters, column))
        _CONVERTERS[connection.vendor] = found
    return found


# key hash -> (monotonic time loaded, converted column values, group names). Each process keeps what it read for
# API_TOKEN_CACHE_SECONDS: a busy integration's calls then skip the database entirely. A change to a token, an
# account, a profile or a group forgets every entry in the process that made it (signals in community.apps);
# other processes see the change when their copy ages out.
_LOADED: dict[str, tuple[float, list[Any], list[str]]] = {}
_LOADED_MAX = 2_000


def api_token_cache_forget(**_signal: Any) -> None:
    """Forget the tokens this process has kept (after any change to tokens, accounts, profiles or groups)."""
    _LOADED.clear()


def _token_row(key_hash: str) -> tuple[list[Any], list[str]] | None:
    seconds = settings.API_TOKEN_CACHE_SECONDS
    if seconds > 0:
        kept = _LOADED.get(key_hash)
        if kept is not None and time.monotonic() - kept[0] < seconds:
            return kept[1], kept[2]
    query = _TOKEN_QUERIES.get(connection.vendor)
    if query is None:
        query = _TOKEN_QUERIES[connection.vendor] = _token_query(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(query, [key_hash])
        row = cursor.fetchone()
    if row is None:
        _LOADED.pop(key_hash, None)
        return None
    values = list(row[:-1])
    group_names = row[-1]
    if isinstance(group_names, str):  # SQLite hands back the JSON text
        group_names = json.loads(group_names)
    group_names = [name for name in group_names or [] if name is not None]
    for index, converters, expression in _converters():
        for converter in converters:
            values[index] = converter(values[index], expression, connection)
    if seconds > 0:
        if len(_LOADED) >= _LOADED_MAX:
            _LOADED.clear()
        _LOADED[key_hash] = (time.monotonic(), values, group_names)
    return values, group_names


def _token_used(token: ApiToken, when: Any) -> None:
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=when)
    kept = _LOADED.get(token.key_hash)
    if kept is not None:
        kept[1][_LAST_USED_INDEX] = when


_LAST_USED_INDEX = next(index for index, field in enumerate(_TOKEN) if field.name == "last_used_at")


def _token_with_user_and_member(key_hash: str) -> ApiToken | None:
    """The token, its user and the user's member profile, in one query or from this process's recent copy.
    Every API request runs it, and the ORM took longer to build this three-table select than the database took
    to answer it; the rows become new model instances per request, as select_related("user", "user__member")
    would make them."""
    found = _token_row(key_hash)
    if found is None:
        return None
    values, group_names = found
    token_end, user_end = len(_TOKEN), len(_TOKEN) + len(_USER)
    token = ApiToken.from_db(connection.alias, [f.attname for f in _TOKEN], values[:token_end])
    user = User.from_db(connection.alias, [f.attname for f in _USER], values[token_end:user_end])
    member_values = values[user_end:]
    member = None
    if member_values[0] is not None:  # the primary key: the account has a profile
        member = Member.from_db(connection.alias, [f.attname for f in _MEMBER], member_values)
        Member.user.field.set_cached_value(member, user)
    ApiToken.user.field.set_cached_value(token, user)
    User.member.related.set_cached_value(user, member)
    roles.group_names_preload(user, list(group_names))
    return token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` (or `Token <token>`) with a named API token."""

    keywords = ("bearer", "token")

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid Authorization header: give one token after the keyword."))
        raw_key = parts[1].decode(errors="replace")
        token = _token_with_user_and_member(api_token_hash(raw_key))
        if token is None or not token.is_active or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked API token."))
        # Scopes are enforced here, once per request, so no API view can forget them (see integrations.scopes).
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if view is not None and not token_scope_allows(token, view, request.method):
            raise exceptions.PermissionDenied(TokenHasScope.message)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            _token_used(token, now)
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "community.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token created under Settings → API tokens: `Authorization: Bearer <token>` "
            "(`Token <token>` works too).",
        }
