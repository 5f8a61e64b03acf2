"""`POST /api/v1/member-merges/`: an operator merges two member records of one person."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from community.api.permissions import IsOperator, TokenHasScope
from community.api.views import error_responses
from integrations.services.merge import member_merge
from members.models import Member


class MemberMergeSerializer(serializers.Serializer):
    source = serializers.PrimaryKeyRelatedField(
        queryset=Member.objects.all(), help_text="The duplicate record; it is removed after the merge."
    )
    target = serializers.PrimaryKeyRelatedField(queryset=Member.objects.all(), help_text="The record that stays.")


class MemberMergeResultSerializer(serializers.Serializer):
    activities = serializers.IntegerField()
    notifications = serializers.IntegerField()
    follow_up_tasks = serializers.IntegerField()
    external_identities = serializers.IntegerField()
    notification_preferences = serializers.IntegerField()
    tags = serializers.IntegerField()
    points = serializers.IntegerField(help_text="Lifetime points moved through the ledger.")


class MemberMergeView(APIView):
    """Move a duplicate member record's activities, notifications, identities, tags and points to another."""

    permission_classes = [IsAuthenticated, IsOperator, TokenHasScope]
    required_scopes = ["members:write"]

    @extend_schema(
        request=MemberMergeSerializer,
        responses={200: MemberMergeResultSerializer, **error_responses(400, 401, 403)},
        examples=[OpenApiExample("Merge 17 into 42", value={"source": 17, "target": 42}, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        body = MemberMergeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        moved = member_merge(actor=request.user, **body.validated_data)
        return Response(moved, status=status.HTTP_200_OK)
