"""Operator follow-up tasks API: the inbox as a list, and assign / snooze / complete."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from community.api.permissions import IsOperator
from community.api.views import error_responses
from community.models import FollowUpTask
from engage import selectors
from engage.services import inbox as inbox_services


class FollowUpTaskSerializer(serializers.ModelSerializer):
    member_name = serializers.CharField(source="member.display_name", read_only=True, default=None)
    assignee_email = serializers.CharField(source="assignee.email", read_only=True, default=None)

    class Meta:
        model = FollowUpTask
        fields = [
            "id",
            "kind",
            "title",
            "detail",
            "member",
            "member_name",
            "url",
            "status",
            "assignee",
            "assignee_email",
            "due_at",
            "snoozed_until",
            "outcome",
            "created_at",
            "completed_at",
        ]
        read_only_fields = fields


class FollowUpTaskAssignSerializer(serializers.Serializer):
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_staff=True), allow_null=True
    )


class FollowUpTaskSnoozeSerializer(serializers.Serializer):
    until = serializers.DateTimeField()


class FollowUpTaskCompleteSerializer(serializers.Serializer):
    outcome = serializers.CharField(max_length=5000)


class TaskViewSet(viewsets.ReadOnlyModelViewSet):
    """Follow-up tasks from every job (operators only). `status=due` (default): open, or snoozed and due again."""

    serializer_class = FollowUpTaskSerializer
    permission_classes = [IsAuthenticated, IsOperator]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return FollowUpTask.objects.none()
        if self.action != "list":
            return selectors.inbox_tasks(status="all")
        return selectors.inbox_tasks(status=self.request.query_params.get("status", "due"))

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=["due", "open", "snoozed", "done", "all"])],
        responses={200: FollowUpTaskSerializer(many=True), **error_responses(401, 403, paginated=True)},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: FollowUpTaskSerializer, **error_responses(401, 403, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=FollowUpTaskAssignSerializer,
        responses={200: FollowUpTaskSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str | None = None) -> Response:
        body = FollowUpTaskAssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        task = inbox_services.task_assign(
            task=self.get_object(), assignee=body.validated_data["assignee"], actor=request.user
        )
        return Response(self.get_serializer(task).data)

    @extend_schema(
        request=FollowUpTaskSnoozeSerializer,
        responses={200: FollowUpTaskSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def snooze(self, request: Request, pk: str | None = None) -> Response:
        body = FollowUpTaskSnoozeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        task = inbox_services.task_snooze(
            task=self.get_object(), until=body.validated_data["until"], actor=request.user
        )
        return Response(self.get_serializer(task).data)

    @extend_schema(
        request=FollowUpTaskCompleteSerializer,
        responses={200: FollowUpTaskSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        body = FollowUpTaskCompleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        task = inbox_services.task_complete(
            task=self.get_object(), outcome=body.validated_data["outcome"], actor=request.user
        )
        return Response(self.get_serializer(task).data)
