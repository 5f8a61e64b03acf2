"""Leaderboards API: a live board (top N with dense ranks, plus the caller's own rank) and frozen past periods."""

from __future__ import annotations

import re
from typing import Any

import orjson
from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from community.api.renderers import OPTIONS, JSONRenderer
from community.api.views import error_responses
from members.models import Member
from rewards.models import LeaderboardSnapshot
from rewards.models.leaderboards import PeriodKind
from rewards.selectors import leaderboards as selectors

MAX_LIMIT = 100
SNAPSHOT_LIST_TOP = 10


class LeaderboardQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=PeriodKind.values, default="week")
    key = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=10,
        help_text='A past period: "2026-11", "2026-W47" or "2026-11-22". Default: the current one.',
    )
    segment = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        default="",
        help_text="A member segment (tag name); empty for everyone.",
    )
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=MAX_LIMIT)


class LeaderboardMemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()


class LeaderboardEntrySerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="Dense rank: equal points share a rank.")
    member = LeaderboardMemberSerializer()
    points = serializers.IntegerField()


class LeaderboardStandingSerializer(serializers.Serializer):
    rank = serializers.IntegerField(allow_null=True, help_text="Null when the caller has no points in the period.")
    points = serializers.IntegerField()


class LeaderboardSerializer(serializers.Serializer):
    period = serializers.CharField()
    key = serializers.CharField()
    segment = serializers.CharField()
    source = serializers.ChoiceField(
        choices=["snapshot", "redis", "sql"], help_text="Where the board was read from: a frozen snapshot, or live."
    )
    total = serializers.IntegerField(help_text="Members on the board.")
    entries = LeaderboardEntrySerializer(many=True)
    me = LeaderboardStandingSerializer(
        allow_null=True, help_text="The caller's own rank; null for accounts without a profile."
    )


_PLAIN_VALUE = re.compile(r"[^\s\x00]*\Z")  # nothing for CharField's whitespace trimming or null check to change
_PLAIN_LIMIT = re.compile(r"[1-9][0-9]{0,2}\Z")


def _board_query(params: Any) -> dict[str, Any]:
    """The validated query: plain, valid values (nearly every call) are taken as LeaderboardQuerySerializer would
    take them, without building it; anything else goes through the serializer for its field errors."""
    period = params.get("period", "week")
    key = params.get("key", "")
    segment = params.get("segment", "")
    limit = params.get("limit", str(MAX_LIMIT))
    if (
        period in _PERIODS
        and len(key) <= _KEY_MAX
        and len(segment) <= _SEGMENT_MAX
        and _PLAIN_VALUE.match(key)
        and _PLAIN_VALUE.match(segment)
        and _PLAIN_LIMIT.match(limit)
        and int(limit) <= MAX_LIMIT
    ):
        return {"period": period, "key": key, "segment": segment, "limit": int(limit)}
    query = LeaderboardQuerySerializer(data=params)
    query.is_valid(raise_exception=True)
    return query.validated_data


_QUERY_FIELDS = LeaderboardQuerySerializer().fields
_PERIODS = frozenset(PeriodKind.values)
_KEY_MAX = _QUERY_FIELDS["key"].max_length
_SEGMENT_MAX = _QUERY_FIELDS["segment"].max_length


def _entry(rank: int, member_id: int, display_name: str, points: int) -> dict[str, Any]:
    return {"rank": rank, "member": {"id": member_id, "display_name": display_name}, "points": points}


def _entries(board: selectors.Leaderboard) -> list[dict[str, Any]]:
    return [_entry(r.rank, r.member_id, r.display_name, r.points) for r in board.rows]


# The entries of recently served boards as JSON, by (kind, key, segment, limit): (board, encoded). The selector
# hands back the very same board object while a live board is unchanged, so its hundred rows are encoded once,
# not on every read.
_encoded: dict[tuple[str, str, str, int], tuple[selectors.Leaderboard, orjson.Fragment]] = {}
_ENCODED_MAX = 1_000


def _encoded_entries(board: selectors.Leaderboard, limit: int) -> orjson.Fragment:
    key = (board.period.kind, board.period.key, board.segment, limit)
    held = _encoded.get(key)
    if held is not None and held[0] is board:
        return held[1]
    fragment = orjson.Fragment(orjson.dumps(_entries(board), option=OPTIONS))
    if board.source == "redis":  # other sources build a new board object on every read
        if len(_encoded) >= _ENCODED_MAX:
            _encoded.clear()
        _encoded[key] = (board, fragment)
    return fragment


class JSONFirstNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, with the answer for a client that asks for JSON or for anything (most API calls)
    taken without parsing the Accept header."""

    def select_renderer(self, request: Any, renderers: list[Any], format_suffix: str | None = None) -> Any:
        accept = request.META.get("HTTP_ACCEPT")
        if (
            accept in (None, "*/*", "application/json")
            and not format_suffix
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
            and renderers
            and type(renderers[0]) is JSONRenderer
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)


class LeaderboardView(APIView):
    """A live leaderboard: the top `limit` members with dense ranks, and the caller's own rank even outside it."""

    permission_classes = [IsAuthenticated]
    required_scopes = ["points:read"]
    content_negotiation_class = JSONFirstNegotiation

    @extend_schema(
        parameters=[LeaderboardQuerySerializer],
        responses={200: LeaderboardSerializer, **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        params = _board_query(request.query_params)
        member: Member | None = getattr(request.user, "member", None)
        board, standing = selectors.leaderboard_with_standing(
            member=member,
            period_kind=params["period"],
            period_key=params.get("key") or None,
            segment=params["segment"],
            limit=params["limit"],
        )
        me = {"rank": standing.rank, "points": standing.points} if standing is not None else None
        # The browsable API indents its JSON, which a pre-encoded fragment would not be.
        as_json = type(getattr(request, "accepted_renderer", None)) is JSONRenderer
        return Response(
            {
                "period": board.period.kind,
                "key": board.period.key,
                "segment": board.segment,
                "source": board.source,
                "total": board.total,
                "entries": _encoded_entries(board, params["limit"]) if as_json else _entries(board),
                "me": me,
            }
        )


class LeaderboardSnapshotSerializer(serializers.ModelSerializer):
    entries = serializers.SerializerMethodField(help_text="The top rows: 10 in the list, 100 in the detail.")

    class Meta:
        model = LeaderboardSnapshot
        fields = [
            "id",
            "period_kind",
            "period_key",
            "segment",
            "starts_at",
            "ends_at",
            "member_count",
            "frozen_at",
            "entries",
        ]
        read_only_fields = fields

    @extend_schema_field(LeaderboardEntrySerializer(many=True))
    def get_entries(self, snapshot: LeaderboardSnapshot) -> list[dict[str, Any]]:
        rows = self.context.get("rows", {}).get(snapshot.pk, [])
        return [_entry(row.rank, row.member_id, row.member.display_name, row.points) for row in rows]


class LeaderboardSnapshotDetailSerializer(LeaderboardSnapshotSerializer):
    me = serializers.SerializerMethodField()

    class Meta(LeaderboardSnapshotSerializer.Meta):
        fields = [*LeaderboardSnapshotSerializer.Meta.fields, "me"]
        read_only_fields = fields

    @extend_schema_field(LeaderboardStandingSerializer(allow_null=True))
    def get_me(self, snapshot: LeaderboardSnapshot) -> dict[str, Any] | None:
        member = self.context.get("member")
        if member is None:
            return None
        row = snapshot.rows.filter(member=member).first()
        return {"rank": row.rank, "points": row.points} if row is not None else {"rank": None, "points": 0}


class LeaderboardSnapshotViewSet(viewsets.ReadOnlyModelViewSet):
    """Frozen boards of finished periods (latest first), e.g. last month's top 10."""

    permission_classes = [IsAuthenticated]
    required_scopes = ["points:read"]
    filterset_fields = ["period_kind", "segment", "period_key"]
    ordering_fields = ["ends_at"]

    def get_queryset(self):
        return selectors.leaderboard_snapshots()

    def get_serializer_class(self):
        return LeaderboardSnapshotDetailSerializer if self.action == "retrieve" else LeaderboardSnapshotSerializer

    @extend_schema(responses={200: LeaderboardSnapshotSerializer(many=True), **error_responses(400, 401, 403)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        rows = selectors.snapshot_top_rows(snapshots=page, top=SNAPSHOT_LIST_TOP)
        data = LeaderboardSnapshotSerializer(
            page, many=True, context={**self.get_serializer_context(), "rows": rows}
        ).data
        return self.get_paginated_response(data)

    @extend_schema(responses={200: LeaderboardSnapshotDetailSerializer, **error_responses(401, 403, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        snapshot = self.get_object()
        rows = {snapshot.pk: list(snapshot.rows.select_related("member").order_by("rank", "-member_id")[:MAX_LIMIT])}
        context = {**self.get_serializer_context(), "rows": rows, "member": getattr(request.user, "member", None)}
        return Response(LeaderboardSnapshotDetailSerializer(snapshot, context=context).data)


router = DefaultRouter()
router.include_root_view = False
router.register("leaderboards/snapshots", LeaderboardSnapshotViewSet, basename="leaderboard-snapshot")

urlpatterns = [
    path("leaderboards/", LeaderboardView.as_view(), name="leaderboard"),
    *router.urls,
]
