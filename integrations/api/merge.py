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
    """How many rows moved to the target; `*_dropped`, `*_withdrawn`, `*_revoked`, `*_dismissed`, `*_same_day`:
    duplicates of something the target already had, settled as docs/integrations.md says."""

    activities = serializers.IntegerField()
    notifications = serializers.IntegerField()
    follow_up_tasks = serializers.IntegerField()
    external_identities = serializers.IntegerField()
    notification_preferences = serializers.IntegerField()
    profile_fields = serializers.IntegerField(help_text="Profile fields the target had left blank, filled.")
    tags = serializers.IntegerField()
    applications = serializers.IntegerField()
    applications_withdrawn = serializers.IntegerField()
    exit_surveys = serializers.IntegerField()
    feedback_items = serializers.IntegerField()
    feedback_replies = serializers.IntegerField()
    feedback_votes = serializers.IntegerField()
    feedback_votes_dropped = serializers.IntegerField()
    feedback_follows = serializers.IntegerField()
    survey_responses = serializers.IntegerField()
    survey_responses_dropped = serializers.IntegerField()
    reports = serializers.IntegerField()
    reports_dismissed = serializers.IntegerField()
    moderation_actions = serializers.IntegerField()
    event_registrations = serializers.IntegerField()
    event_registrations_dropped = serializers.IntegerField()
    waitlist_promoted = serializers.IntegerField(help_text="Waitlisted members given a seat a duplicate freed.")
    topic_replies = serializers.IntegerField()
    questions = serializers.IntegerField()
    answers = serializers.IntegerField()
    onboarding_steps = serializers.IntegerField(help_text="Onboarding steps newly recorded for the target.")
    points = serializers.IntegerField(help_text="Lifetime points moved through the ledger.")
    badge_awards = serializers.IntegerField()
    badge_awards_revoked = serializers.IntegerField()
    check_ins = serializers.IntegerField()
    check_ins_same_day = serializers.IntegerField(help_text="Days both checked in: the source's stays with it.")
    redemptions = serializers.IntegerField()


class MemberMergeView(APIView):
    """Move everything a duplicate member record holds to another, then remove the duplicate."""

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
