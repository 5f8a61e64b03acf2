"""Points API: a member's balance, history and check-in; the levels; awards and deductions for operators and
their integrations, made safe to retry with a required `Idempotency-Key` header."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import django_filters
from django.urls import include, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from community import roles
from community.api.permissions import HasMemberProfile, IsOperator
from community.api.views import error_responses
from community.errors import ServiceError
from members.models import Member
from rewards.models import MAX_ENTRY_POINTS, Level, PointEntry
from rewards.selectors import points as selectors
from rewards.selectors.ledger import balance_for_member
from rewards.services.checkin import checkin_perform
from rewards.services.idempotency import idempotent_perform
from rewards.services.ledger import LedgerResult, points_award, points_deduct

MAX_ID = 2**63 - 1
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 128

# --- serializers ------------------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.INT)
class WholeNumberField(serializers.IntegerField):
    """An integer given as a JSON number: no strings, booleans or fractions (`"10"`, `true`, `1.5` are refused)."""

    default_error_messages = {"invalid": gettext_lazy("Enter a whole number.")}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class LevelSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(read_only=True, help_text="The name in the request's language.")
    privilege_labels = serializers.SerializerMethodField()

    class Meta:
        model = Level
        fields = [
            "id",
            "name",
            "display_name",
            "description",
            "threshold",
            "min_active_days",
            "active_days_window",
            "privileges",
            "privilege_labels",
            "shop_discount_percent",
            "demotion_grace_days",
        ]
        read_only_fields = fields

    def get_privilege_labels(self, obj: Level) -> list[str]:
        return obj.privilege_labels()


class PointEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = PointEntry
        fields = [
            "id",
            "member",
            "kind",
            "lifetime_delta",
            "spendable_delta",
            "reason",
            "rule",
            "rule_version",
            "created_at",
        ]
        read_only_fields = fields


class StreakSerializer(serializers.Serializer):
    current = serializers.IntegerField()
    longest = serializers.IntegerField()
    checked_in_today = serializers.BooleanField()


class BalanceSerializer(serializers.Serializer):
    lifetime = serializers.IntegerField()
    spendable = serializers.IntegerField()
    level = LevelSerializer(allow_null=True)
    next_level = LevelSerializer(allow_null=True)
    points_to_next = serializers.IntegerField(allow_null=True)
    progress_percent = serializers.IntegerField()
    grace_until = serializers.DateTimeField(allow_null=True, help_text="Set while below the level's requirements.")
    streak = StreakSerializer()


class CheckInResultSerializer(serializers.Serializer):
    created = serializers.BooleanField()
    already_checked_in = serializers.BooleanField()
    local_date = serializers.DateField()
    points = serializers.IntegerField()
    bonus_points = serializers.IntegerField()
    current_streak = serializers.IntegerField()
    longest_streak = serializers.IntegerField()


class PointChangeSerializer(serializers.Serializer):
    # The id is not looked up here: the ledger's balance update proves the member exists (an unknown id is
    # refused by the ledger with the same field error), which saves a query on every award.
    member = WholeNumberField(min_value=1, max_value=MAX_ID, help_text="The member's id.")
    amount = WholeNumberField(min_value=1, max_value=MAX_ENTRY_POINTS)
    reason = serializers.CharField(max_length=200)


_REASON_MAX = PointChangeSerializer().fields["reason"].max_length


def _plain_whole(value: Any, maximum: int) -> bool:
    return type(value) is int and 1 <= value <= maximum


def _point_change(data: Any) -> dict[str, Any]:
    """The validated award or deduction. A JSON body whose values are plainly valid is taken as it is, as
    PointChangeSerializer would take it (the reason trimmed); anything else goes through the serializer, which
    words the errors. Building a serializer costs more than the rest of the request's validation together."""
    if type(data) is dict:
        member, amount, reason = data.get("member"), data.get("amount"), data.get("reason")
        if _plain_whole(member, MAX_ID) and _plain_whole(amount, MAX_ENTRY_POINTS) and type(reason) is str:
            trimmed = reason.strip()
            # The serializer's CharField: not blank, at most max_length, no NUL or surrogate characters.
            if 0 < len(trimmed) <= _REASON_MAX and _no_nul_or_surrogate(trimmed):
                return {"member": member, "amount": amount, "reason": trimmed}
    body = PointChangeSerializer(data=data)
    body.is_valid(raise_exception=True)
    return body.validated_data


def _no_nul_or_surrogate(text: str) -> bool:
    return "\x00" not in text and not any("\ud800" <= char <= "\udfff" for char in text)


def _member_by_id(member_id: int) -> Member:
    """The member an award names, by id alone (see PointChangeSerializer)."""
    member = Member(pk=member_id)
    member._state.adding = False
    return member


def _is_self(request: Request, member_id: int) -> bool:
    own = getattr(request.user, "member", None)
    return own is not None and own.pk == member_id


class BalanceBriefSerializer(serializers.Serializer):
    lifetime = serializers.IntegerField()
    spendable = serializers.IntegerField()


class PointChangeResultSerializer(serializers.Serializer):
    entry = PointEntrySerializer(allow_null=True, help_text="Null when a deduction found no points to take.")
    balance = BalanceBriefSerializer()


# --- member endpoints -------------------------------------------------------------------------------------


def _balance_body(summary: selectors.PointsSummary) -> dict[str, Any]:
    return {
        "lifetime": summary.lifetime,
        "spendable": summary.spendable,
        "level": summary.level,
        "next_level": summary.next_level,
        "points_to_next": summary.points_to_next,
        "progress_percent": summary.progress_percent,
        "grace_until": summary.grace_until,
        "streak": {
            "current": summary.current_streak,
            "longest": summary.longest_streak,
            "checked_in_today": summary.checked_in_today,
        },
    }


class BalanceView(APIView):
    """The signed-in member's balances, level, progress to the next level and check-in streak."""

    permission_classes = [IsAuthenticated, HasMemberProfile]
    required_scopes = ["points:read"]

    @extend_schema(responses={200: BalanceSerializer, **error_responses(401, 403)})
    def get(self, request: Request) -> Response:
        summary = selectors.points_summary_for_member(member=request.user.member)
        return Response(BalanceSerializer(_balance_body(summary)).data)


class CheckInView(APIView):
    """Check in for today (the member's time zone): 201 with what it earned, or 200 if already checked in."""

    permission_classes = [IsAuthenticated, HasMemberProfile]
    required_scopes = ["checkins:write"]

    @extend_schema(
        request=None,
        responses={201: CheckInResultSerializer, 200: CheckInResultSerializer, **error_responses(401, 403)},
    )
    def post(self, request: Request) -> Response:
        result = checkin_perform(member=request.user.member)
        body = CheckInResultSerializer(
            {
                "created": result.created,
                "already_checked_in": result.already_checked_in,
                "local_date": result.local_date,
                "points": result.points,
                "bonus_points": result.bonus_points,
                "current_streak": result.current_streak,
                "longest_streak": result.longest_streak,
            }
        ).data
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class PointEntryFilter(django_filters.FilterSet):
    member = django_filters.NumberFilter(
        field_name="member", min_value=1, max_value=MAX_ID, help_text="Operators: one member's entries."
    )
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = PointEntry
        fields = ["member", "kind", "rule", "since", "until"]


class PointEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """Points history: a member sees their own entries; operators see everyone's and may filter by member."""

    serializer_class = PointEntrySerializer
    permission_classes = [IsAuthenticated]
    required_scopes = ["points:read"]
    filterset_class = PointEntryFilter
    ordering_fields = ["created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PointEntry.objects.none()
        user = self.request.user
        if roles.is_operator(user):
            return selectors.entry_list()
        member = getattr(user, "member", None)
        return selectors.entry_list(member=member) if member is not None else PointEntry.objects.none()

    @extend_schema(responses={200: PointEntrySerializer(many=True), **error_responses(400, 401)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: PointEntrySerializer, **error_responses(401, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)


class LevelViewSet(viewsets.ReadOnlyModelViewSet):
    """The levels: thresholds on lifetime points, activity conditions and privileges."""

    serializer_class = LevelSerializer
    permission_classes = [IsAuthenticated]
    required_scopes = ["points:read"]
    filterset_fields: list[str] = []
    ordering_fields = ["threshold"]

    def get_queryset(self):
        return selectors.level_queryset()

    @extend_schema(responses={200: LevelSerializer(many=True), **error_responses(401)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: LevelSerializer, **error_responses(401, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)


# --- awards and deductions: operators and their integrations, with Idempotency-Key --------------------------


class IdempotencyConflict(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = gettext_lazy("This Idempotency-Key was already used with a different request.")
    default_code = "idempotency_key_reused"


def _idempotency_key(request: Request) -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER, "")
    if not key:
        raise exceptions.ValidationError(
            {IDEMPOTENCY_HEADER: [_("This header is required: a unique key per award, reused only on retries.")]}
        )
    if len(key) > MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise exceptions.ValidationError(
            {IDEMPOTENCY_HEADER: [_("Use 1 to %(max)d printable ASCII characters.") % {"max": MAX_IDEMPOTENCY_KEY}]}
        )
    return key


def _fingerprint(request: Request) -> str:
    data = request.data
    if hasattr(data, "lists"):  # a form-encoded body: keep every value of repeated fields
        data = dict(data.lists())
    canonical = json.dumps({"path": request.path, "body": data}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _idempotent(request: Request, perform: Callable[[str], tuple[int, dict[str, Any]]]) -> Response:
    """Run `perform` once per (user, key) and replay its first response on retries (see the service)."""
    key = _idempotency_key(request)
    try:
        outcome = idempotent_perform(
            user=request.user,
            key=key,
            fingerprint=_fingerprint(request),
            perform=lambda: perform(f"api:{request.user.pk}:{key}"),
        )
    except ServiceError as error:
        if error.code == "idempotency_key_reused":
            raise IdempotencyConflict() from None
        raise
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return Response(outcome.body, status=outcome.status, headers=headers)


_DATETIME = serializers.DateTimeField()


def _entry_body(entry: PointEntry) -> dict[str, Any]:
    """What PointEntrySerializer gives, written out: building a ModelSerializer's fields costs more than the
    award itself (tests check the two agree)."""
    return {
        "id": entry.pk,
        "member": entry.member_id,
        "kind": entry.kind,
        "lifetime_delta": entry.lifetime_delta,
        "spendable_delta": entry.spendable_delta,
        "reason": entry.reason,
        "rule": entry.rule_id,
        "rule_version": entry.rule_version,
        "created_at": _DATETIME.to_representation(entry.created_at),
    }


def _result_body(result: LedgerResult | None, member: Member) -> dict[str, Any]:
    if result is not None and result.balance is not None:
        lifetime, spendable = result.balance
    else:
        balance = balance_for_member(member=member)
        lifetime, spendable = balance.lifetime, balance.spendable
    entry = result.entry if result is not None else None
    return {
        "entry": _entry_body(entry) if entry is not None else None,
        "balance": {"lifetime": lifetime, "spendable": spendable},
    }


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="Required. A unique key per change (e.g. your system's event id). Retrying with the same key and "
    "body returns the first response again; the same key with a different body answers 422.",
)
IDEMPOTENCY_RESPONSES = {
    422: OpenApiResponse(description="The Idempotency-Key was already used with a different request."),
}


class AwardView(APIView):
    """Award points to a member (operators and their integrations). Members cannot award anyone."""

    permission_classes = [IsAuthenticated, IsOperator]
    required_scopes = ["points:award"]

    @extend_schema(
        request=PointChangeSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: PointChangeResultSerializer,
            200: PointChangeResultSerializer,
            **error_responses(400, 401, 403),
            **IDEMPOTENCY_RESPONSES,
        },
    )
    def post(self, request: Request) -> Response:
        def perform(ledger_key: str) -> tuple[int, dict[str, Any]]:
            change = _point_change(request.data)
            if _is_self(request, change["member"]):
                raise exceptions.PermissionDenied(_("You cannot award points to yourself."))
            member = _member_by_id(change["member"])
            result = points_award(
                member=member,
                amount=change["amount"],
                reason=change["reason"],
                idempotency_key=ledger_key,
                actor=request.user,
            )
            return (201 if result.created else 200), _result_body(result, member)

        return _idempotent(request, perform)


class DeductionView(APIView):
    """Take points from a member (a penalty), never below zero: at most what they have is taken."""

    permission_classes = [IsAuthenticated, IsOperator]
    required_scopes = ["points:award"]

    @extend_schema(
        request=PointChangeSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: PointChangeResultSerializer,
            200: PointChangeResultSerializer,
            **error_responses(400, 401, 403),
            **IDEMPOTENCY_RESPONSES,
        },
    )
    def post(self, request: Request) -> Response:
        def perform(ledger_key: str) -> tuple[int, dict[str, Any]]:
            change = _point_change(request.data)
            member = _member_by_id(change["member"])
            result = points_deduct(
                member=member,
                amount=change["amount"],
                reason=change["reason"],
                idempotency_key=ledger_key,
                actor=request.user,
            )
            if result is None:
                return 200, _result_body(None, member)
            return (201 if result.created else 200), _result_body(result, member)

        return _idempotent(request, perform)


router = DefaultRouter()
router.include_root_view = False
router.register("points/entries", PointEntryViewSet, basename="points-entry")
router.register("levels", LevelViewSet, basename="level")

urlpatterns = [
    path("points/balance/", BalanceView.as_view(), name="points-balance"),
    path("points/checkin/", CheckInView.as_view(), name="points-checkin"),
    path("points/awards/", AwardView.as_view(), name="points-award"),
    path("points/deductions/", DeductionView.as_view(), name="points-deduction"),
    path("", include(router.urls)),
]
