"""The rewards shop API: the catalogue, redeeming, and redemptions (members see their own; operators fulfil and
cancel)."""

from __future__ import annotations

import uuid
from typing import Any

import django_filters
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from community import roles
from community.api.permissions import HasMemberProfile, IsOperator
from community.api.views import error_responses
from community.errors import ServiceError
from rewards.models import Redemption, Reward
from rewards.selectors import shop as shop_selectors
from rewards.services import shop as shop_services

# --- serializers ------------------------------------------------------------------------------------------------


class RewardSerializer(serializers.ModelSerializer):
    is_available = serializers.SerializerMethodField(help_text="Active, inside its dates and in stock right now.")
    min_level_name = serializers.SerializerMethodField(help_text="The level a member must hold, if any.")
    my_active_redemptions = serializers.IntegerField(
        read_only=True, default=None, help_text="How many of this reward you hold (pending or fulfilled)."
    )

    class Meta:
        model = Reward
        fields = [
            "id",
            "kind",
            "name",
            "description",
            "image",
            "price",
            "stock",
            "per_member_limit",
            "min_level",
            "min_level_name",
            "available_from",
            "available_until",
            "is_active",
            "sort_order",
            "is_available",
            "my_active_redemptions",
        ]
        read_only_fields = fields

    def get_min_level_name(self, reward: Reward) -> str | None:
        return reward.min_level.display_name if reward.min_level_id is not None else None

    def get_is_available(self, reward: Reward) -> bool:
        return reward.stock > 0 and reward.is_available_at(self.context.get("now") or timezone.now())


class RewardSummarySerializer(serializers.ModelSerializer):
    # A plain string here: the kind's enum is documented once, on Reward (two components sharing it would clash
    # with other "kind" enums in the schema's naming).
    kind = serializers.CharField(read_only=True, help_text="coupon, gift, service or ticket.")

    class Meta:
        model = Reward
        fields = ["id", "kind", "name"]
        read_only_fields = fields


class RedemptionSerializer(serializers.ModelSerializer):
    reward = RewardSummarySerializer(read_only=True)
    member_name = serializers.CharField(source="member.display_name", read_only=True)
    coupon_code = serializers.SerializerMethodField(
        help_text="The coupon's code: shown only to the member who redeemed it and to operators."
    )

    class Meta:
        model = Redemption
        fields = [
            "id",
            "member",
            "member_name",
            "reward",
            "price_paid",
            "status",
            "coupon_code",
            "note",
            "created_at",
            "fulfilled_at",
            "cancelled_at",
            "cancel_reason",
        ]
        read_only_fields = fields

    def get_coupon_code(self, redemption: Redemption) -> str | None:
        if redemption.coupon_code_id is None:
            return None
        if self.context.get("is_operator") or redemption.member_id == self.context.get("member_id"):
            return redemption.coupon_code.code
        return None


class RedeemSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=shop_services.NOTE_MAX_LENGTH,
        help_text="Shipping address or contact note (gifts, tickets, services).",
    )


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=shop_services.CANCEL_REASON_MAX_LENGTH, help_text="Why; the member sees it."
    )


REFUSAL = inline_serializer(
    "ShopRefusal",
    fields={
        "non_field_errors": serializers.ListField(child=serializers.CharField(), required=False),
        "code": serializers.ChoiceField(
            choices=[
                "out_of_stock",
                "insufficient_points",
                "level_too_low",
                "limit_reached",
                "not_available",
                "invalid_status",
                "invalid",
            ],
        ),
    },
)
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Up to 100 characters. Retrying with the same key returns the first redemption instead of "
    "redeeming again; without it each call is a new redemption.",
)


def _refusal(error: ServiceError) -> Response:
    """A service's refusal as a 400 with the field messages and a machine-readable code."""
    return Response({**error.as_dict(), "code": error.code}, status=status.HTTP_400_BAD_REQUEST)


def _viewer(request: Request) -> tuple[Any, bool]:
    member = getattr(request.user, "member", None) if request.user.is_authenticated else None
    return member, roles.is_operator(request.user)


# --- the catalogue ----------------------------------------------------------------------------------------------


class RewardViewSet(viewsets.ReadOnlyModelViewSet):
    """The rewards catalogue. Members see active rewards that have not ended; operators see every reward."""

    serializer_class = RewardSerializer
    permission_classes = [IsAuthenticated]
    required_scopes = {"read": ["points:read"], "redeem": ["rewards:redeem"]}
    filterset_fields = ["kind", "is_active"]
    ordering_fields = ["price", "sort_order", "name"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Reward.objects.none()
        member, is_operator = _viewer(self.request)
        if is_operator:
            return shop_selectors.reward_list_all(member=member)
        if self.action == "list":
            return shop_selectors.reward_catalogue(member=member)
        return shop_selectors.reward_visible(member=member).order_by("id")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(responses={200: RewardSerializer(many=True), **error_responses(400, 401)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: RewardSerializer, **error_responses(401, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=RedeemSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: RedemptionSerializer,
            200: OpenApiResponse(
                RedemptionSerializer, description="The same Idempotency-Key again: the first redemption, unchanged."
            ),
            400: OpenApiResponse(REFUSAL, description="Refused; `code` says why. Points and stock are untouched."),
            422: OpenApiResponse(description="The Idempotency-Key was already used for another reward."),
            **error_responses(401, 403, 404),
        },
    )
    @action(
        detail=True, methods=["post"], permission_classes=[IsAuthenticated, HasMemberProfile], filterset_fields=None
    )
    def redeem(self, request: Request, pk: str | None = None) -> Response:
        """Spend your points on one of this reward. A coupon's code is in the answer."""
        reward = self.get_object()
        body = RedeemSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key") or f"api:{uuid.uuid4()}"
        member = request.user.member
        try:
            result = shop_services.reward_redeem(
                member=member, reward=reward, idempotency_key=key, note=body.validated_data.get("note", "")
            )
        except ServiceError as error:
            if error.code == "idempotency_conflict":
                return Response({**error.as_dict(), "code": error.code}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
            return _refusal(error)
        shop_services.redemption_codes_reveal(member=member)
        redemption = (
            shop_selectors.redemptions_for_member(member=member).select_related("member").get(pk=result.redemption.pk)
        )
        context = {**self.get_serializer_context(), "member_id": member.pk, "is_operator": False}
        return Response(
            RedemptionSerializer(redemption, context=context).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


# --- redemptions ------------------------------------------------------------------------------------------------


class RedemptionFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(field_name="reward__kind", choices=Reward.Kind.choices)
    since = django_filters.DateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Redemption
        fields = ["status", "reward", "member", "kind", "since", "until"]


class RedemptionViewSet(viewsets.ReadOnlyModelViewSet):
    """Redemptions: a member sees their own; operators see everyone's (the fulfilment queue) and fulfil or cancel.
    Another member's redemption answers 404."""

    serializer_class = RedemptionSerializer
    permission_classes = [IsAuthenticated]
    required_scopes = {"read": ["points:read"], "write": ["points:award"]}
    filterset_class = RedemptionFilter
    ordering_fields = ["created_at", "status"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Redemption.objects.none()
        member, is_operator = _viewer(self.request)
        if is_operator:
            return shop_selectors.redemption_list()
        if member is None:
            return Redemption.objects.none()
        return shop_selectors.redemptions_for_member(member=member).select_related("member")

    def get_serializer_context(self) -> dict[str, Any]:
        member, is_operator = _viewer(self.request)
        return {
            **super().get_serializer_context(),
            "member_id": getattr(member, "pk", None),
            "is_operator": is_operator,
        }

    def _reveal_own_codes(self) -> None:
        member, _is_operator = _viewer(self.request)
        if member is not None:  # marked before reading, so a code freed meanwhile is never shown
            shop_services.redemption_codes_reveal(member=member)

    @extend_schema(responses={200: RedemptionSerializer(many=True), **error_responses(400, 401)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self._reveal_own_codes()
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: RedemptionSerializer, **error_responses(401, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self._reveal_own_codes()
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(request=None, responses={200: RedemptionSerializer, **error_responses(400, 401, 403, 404)})
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, IsOperator], filterset_class=None)
    def fulfil(self, request: Request, pk: str | None = None) -> Response:
        """Mark a pending redemption fulfilled; the member is notified. Already fulfilled: unchanged."""
        try:
            redemption = shop_services.redemption_fulfil(redemption=self.get_object(), actor=request.user)
        except ServiceError as error:
            return _refusal(error)
        return Response(self.get_serializer(redemption).data)

    @extend_schema(
        request=CancelSerializer, responses={200: RedemptionSerializer, **error_responses(400, 401, 403, 404)}
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, IsOperator], filterset_class=None)
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel and refund the points (once); the member is notified. Already cancelled: unchanged."""
        redemption = self.get_object()
        body = CancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = shop_services.redemption_cancel(
                redemption=redemption, actor=request.user, reason=body.validated_data["reason"]
            )
        except ServiceError as error:
            return _refusal(error)
        return Response(self.get_serializer(result.redemption).data)


router = DefaultRouter()
router.include_root_view = False
router.register("rewards", RewardViewSet, basename="reward")
router.register("redemptions", RedemptionViewSet, basename="redemption")

urlpatterns = router.urls
