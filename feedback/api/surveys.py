"""Surveys: members list the open surveys aimed at them and answer once; operators read results."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from community.api.permissions import HasMemberProfile, IsOperator
from community.api.views import error_responses
from community.errors import ServiceError
from feedback import selectors
from feedback import services as feedback_services
from feedback.api.common import SCOPES, refusal, viewer
from feedback.models import Survey, SurveyQuestion, SurveyResponse


class FeedbackSurveyQuestionSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text="nps (0-10), csat (1-5), choice or text.")

    class Meta:
        model = SurveyQuestion
        fields = ["id", "kind", "prompt", "choices", "required", "order"]
        read_only_fields = fields


class FeedbackSurveySerializer(serializers.ModelSerializer):
    questions = FeedbackSurveyQuestionSerializer(many=True, read_only=True)
    answered = serializers.BooleanField(read_only=True, default=False)

    class Meta:
        model = Survey
        fields = ["id", "title", "description", "opens_at", "closes_at", "questions", "answered"]
        read_only_fields = fields


class FeedbackSurveyAnswersSerializer(serializers.Serializer):
    answers = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text='Question id → answer: a score for nps/csat, one of the choices, or text. E.g. {"12": "9"}.',
    )


class FeedbackSurveyResponseSerializer(serializers.ModelSerializer):
    class Meta:
        model = SurveyResponse
        fields = ["id", "survey", "member", "submitted_at"]
        read_only_fields = fields


class SurveyViewSet(viewsets.ReadOnlyModelViewSet):
    """Members: open surveys aimed at them. Operators: every survey."""

    serializer_class = FeedbackSurveySerializer
    permission_classes = [IsAuthenticated]
    filterset_class = None
    ordering_fields: list[str] = []
    required_scopes = SCOPES

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Survey.objects.none()
        member, is_operator = viewer(self.request)
        if is_operator:
            return Survey.objects.prefetch_related("questions").order_by("-opens_at", "-id")
        if member is None:
            return Survey.objects.none()
        ids = [survey.pk for survey in selectors.surveys_for_member(member=member)]
        answered = SurveyResponse.objects.filter(survey=OuterRef("pk"), member_id=member.pk)
        return (
            Survey.objects.filter(pk__in=ids)
            .prefetch_related("questions")
            .annotate(answered=Exists(answered))
            .order_by("closes_at", "-id")
        )

    @extend_schema(responses={200: FeedbackSurveySerializer(many=True), **error_responses(401, paginated=True)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: FeedbackSurveySerializer, **error_responses(401, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=FeedbackSurveyAnswersSerializer,
        responses={201: FeedbackSurveyResponseSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, HasMemberProfile])
    def respond(self, request: Request, pk: str | None = None) -> Response:
        """Answer the survey, once."""
        survey = self.get_object()
        body = FeedbackSurveyAnswersSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            response = feedback_services.survey_respond(
                survey=survey, member=request.user.member, answers=body.validated_data["answers"]
            )
        except ServiceError as error:
            return refusal(error)
        return Response(FeedbackSurveyResponseSerializer(response).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Responses, and per question NPS/CSAT/counts."),
            **error_responses(401, 403, 404),
        }
    )
    @action(detail=True, methods=["get"], permission_classes=[IsAuthenticated, IsOperator])
    def results(self, request: Request, pk: str | None = None) -> Response:
        """Operators: the survey's results."""
        survey = self.get_object()
        results = selectors.survey_results(survey=survey)
        questions = []
        for entry in results["questions"]:
            question = entry.pop("question")
            questions.append({"id": question.pk, "prompt": question.prompt, **entry})
        return Response(
            {"survey": survey.pk, "responses": results["responses"], "questions": questions, "at": timezone.now()}
        )


router = DefaultRouter()
router.include_root_view = False
router.register("surveys", SurveyViewSet, basename="survey")

urlpatterns = router.urls
