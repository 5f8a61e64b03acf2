"""Program events API under /api/v1/program-events/ (`/api/v1/events/` is reserved for inbound product events)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from community.api.permissions import HasMemberProfile, IsOperator
from community.api.views import error_responses
from engage import selectors
from engage.models import Event, EventRegistration, LotteryDraw
from engage.services import events as event_services


class ProgramEventSerializer(serializers.ModelSerializer):
    seats_taken = serializers.IntegerField(read_only=True)
    waitlist_length = serializers.IntegerField(read_only=True)
    my_status = serializers.SerializerMethodField(
        help_text="Your registration: registered, waitlisted, cancelled or null."
    )

    class Meta:
        model = Event
        fields = [
            "id",
            "title",
            "kind",
            "description",
            "location",
            "online_url",
            "starts_at",
            "ends_at",
            "capacity",
            "status",
            "min_level",
            "segments",
            "winners_count",
            "seats_taken",
            "waitlist_length",
            "my_status",
        ]
        read_only_fields = fields

    def get_my_status(self, event: Event) -> str | None:
        mine = selectors.my_registration(event)
        return mine.status if mine else None


class ProgramEventRegistrationSerializer(serializers.ModelSerializer):
    class Meta:
        model = EventRegistration
        fields = ["id", "event", "member", "status", "check_in_code", "queued_at", "checked_in_at", "created_at"]
        read_only_fields = fields


class ProgramEventCheckInSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=12)


class LotteryDrawSerializer(serializers.ModelSerializer):
    class Meta:
        model = LotteryDraw
        fields = ["event", "seed", "algorithm", "entrants", "winners", "drawn_at"]
        read_only_fields = fields


class LotteryDrawRequestSerializer(serializers.Serializer):
    seed = serializers.CharField(max_length=64, required=False, help_text="Leave out for a random seed.")


class EventViewSet(viewsets.ReadOnlyModelViewSet):
    """Published (and cancelled) events with seat counts and your registration."""

    serializer_class = ProgramEventSerializer
    permission_classes = [IsAuthenticated, HasMemberProfile]
    required_scopes = {"read": ["events:read"], "write": ["events:write"]}
    filterset_fields = ["kind", "status"]
    ordering_fields = ["starts_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Event.objects.none()
        upcoming = self.request.query_params.get("upcoming") == "1"
        return selectors.event_list_for_member(member=self.request.user.member, upcoming_only=upcoming)

    @extend_schema(responses={200: ProgramEventSerializer(many=True), **error_responses(400, 401, 403, paginated=True)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: ProgramEventSerializer, **error_responses(401, 403, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=None,
        responses={
            201: ProgramEventRegistrationSerializer,
            200: ProgramEventRegistrationSerializer,
            **error_responses(400, 401, 403, 404),
        },
    )
    @action(detail=True, methods=["post"])
    def register(self, request: Request, pk: str | None = None) -> Response:
        """Take a seat, or a waitlist place when full. Registering again answers 200 with the same registration."""
        event = self.get_object()
        existed = selectors.my_registration(event)
        registration = event_services.event_register(member=request.user.member, event=event)
        fresh = existed is None or existed.status == EventRegistration.Status.CANCELLED
        return Response(
            ProgramEventRegistrationSerializer(registration).data,
            status=status.HTTP_201_CREATED if fresh else status.HTTP_200_OK,
        )

    @extend_schema(
        request=None, responses={200: ProgramEventRegistrationSerializer, **error_responses(400, 401, 403, 404)}
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel your registration; a freed seat goes to the first on the waitlist."""
        event = self.get_object()
        mine = selectors.my_registration(event)
        if mine is None:
            raise NotFound(_("You are not registered for this event."))
        registration = event_services.event_registration_cancel(registration=mine, actor=request.user)
        return Response(ProgramEventRegistrationSerializer(registration).data)

    @extend_schema(
        request=ProgramEventCheckInSerializer,
        responses={200: ProgramEventRegistrationSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], url_path="check-in", permission_classes=[IsAuthenticated, IsOperator])
    def check_in(self, request: Request, pk: str | None = None) -> Response:
        """Operators: check a member in by their code (records attendance once)."""
        event = self.get_object()
        body = ProgramEventCheckInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        registration = event_services.event_check_in(event=event, code=body.validated_data["code"], actor=request.user)
        return Response(ProgramEventRegistrationSerializer(registration).data)

    @extend_schema(
        request=LotteryDrawRequestSerializer,
        responses={201: LotteryDrawSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, IsOperator])
    def draw(self, request: Request, pk: str | None = None) -> Response:
        """Operators: draw a lottery's winners once, with a recorded seed."""
        event = self.get_object()
        body = LotteryDrawRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        draw = event_services.lottery_draw(event=event, actor=request.user, seed=body.validated_data.get("seed"))
        return Response(LotteryDrawSerializer(draw).data, status=status.HTTP_201_CREATED)
