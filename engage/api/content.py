"""Content API: announcements, topics with replies, questions with answers, knowledge-base articles."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from community.api.permissions import HasMemberProfile
from community.api.views import error_responses
from community.markdown import render_markdown
from engage import selectors
from engage.models import Announcement, Answer, Article, KnowledgeCategory, Question, Topic, TopicReply
from engage.services import content as content_services


class HtmlField(serializers.SerializerMethodField):
    """The Markdown body rendered and sanitised."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "The body as sanitised HTML.")
        super().__init__(method_name="get_body_html", **kwargs)


class _BodyHtml:
    def get_body_html(self, obj: Any) -> str:
        return str(render_markdown(obj.body))


class AnnouncementSerializer(_BodyHtml, serializers.ModelSerializer):
    body_html = HtmlField()

    class Meta:
        model = Announcement
        fields = ["id", "title", "body", "body_html", "pinned", "published_at"]
        read_only_fields = fields


class TopicSerializer(_BodyHtml, serializers.ModelSerializer):
    body_html = HtmlField()
    reply_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Topic
        fields = ["id", "title", "body", "body_html", "is_open", "created_at", "reply_count"]
        read_only_fields = fields


class TopicReplySerializer(_BodyHtml, serializers.ModelSerializer):
    body_html = HtmlField()
    author = serializers.CharField(source="member.display_name", read_only=True)

    class Meta:
        model = TopicReply
        fields = ["id", "topic", "member", "author", "body", "body_html", "created_at"]
        read_only_fields = ["id", "topic", "member", "author", "body_html", "created_at"]


class CommunityQuestionSerializer(_BodyHtml, serializers.ModelSerializer):
    body_html = HtmlField()
    author = serializers.CharField(source="member.display_name", read_only=True)
    answer_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Question
        fields = ["id", "member", "author", "title", "body", "body_html", "created_at", "answered_at", "answer_count"]
        read_only_fields = ["id", "member", "author", "body_html", "created_at", "answered_at", "answer_count"]
        extra_kwargs = {"body": {"required": False}}


class CommunityAnswerSerializer(_BodyHtml, serializers.ModelSerializer):
    body_html = HtmlField()
    author = serializers.CharField(source="member.display_name", read_only=True)

    class Meta:
        model = Answer
        fields = ["id", "question", "member", "author", "body", "body_html", "created_at"]
        read_only_fields = ["id", "question", "member", "author", "body_html", "created_at"]


class KnowledgeCategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = KnowledgeCategory
        fields = ["id", "name", "slug"]
        read_only_fields = fields


class KnowledgeArticleSerializer(_BodyHtml, serializers.ModelSerializer):
    body_html = HtmlField()
    category = KnowledgeCategorySerializer(read_only=True)

    class Meta:
        model = Article
        fields = ["id", "category", "title", "body", "body_html", "is_faq", "updated_at"]
        read_only_fields = fields


MEMBER = [IsAuthenticated, HasMemberProfile]


class AnnouncementViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AnnouncementSerializer
    permission_classes = MEMBER

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Announcement.objects.none()
        return selectors.announcement_list()

    @extend_schema(responses={200: AnnouncementSerializer(many=True), **error_responses(401, 403, paginated=True)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: AnnouncementSerializer, **error_responses(401, 403, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)


class TopicViewSet(viewsets.ReadOnlyModelViewSet):
    """Operator-started discussions (话题引导); members reply."""

    serializer_class = TopicSerializer
    permission_classes = MEMBER

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Topic.objects.none()
        return selectors.topic_list()

    @extend_schema(responses={200: TopicSerializer(many=True), **error_responses(401, 403, paginated=True)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: TopicSerializer, **error_responses(401, 403, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(methods=["get"], responses={200: TopicReplySerializer(many=True), **error_responses(401, 403, 404)})
    @extend_schema(
        methods=["post"],
        request=TopicReplySerializer,
        responses={201: TopicReplySerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def replies(self, request: Request, pk: str | None = None) -> Response:
        """A topic's replies (Markdown, sanitised); POST to reply."""
        topic = self.get_object()
        if request.method == "POST":
            body = TopicReplySerializer(data=request.data)
            body.is_valid(raise_exception=True)
            reply = content_services.topic_reply_create(
                member=request.user.member, topic=topic, body=body.validated_data["body"]
            )
            return Response(TopicReplySerializer(reply).data, status=status.HTTP_201_CREATED)
        return Response(TopicReplySerializer(selectors.topic_replies(topic=topic), many=True).data)


class QuestionViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Members ask; others answer (answering records `question_answered`)."""

    serializer_class = CommunityQuestionSerializer
    permission_classes = MEMBER

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Question.objects.none()
        return selectors.question_list(unanswered=self.request.query_params.get("unanswered") == "1")

    @extend_schema(
        parameters=[OpenApiParameter("unanswered", bool, description="1: only questions without an answer")],
        responses={200: CommunityQuestionSerializer(many=True), **error_responses(401, 403, paginated=True)},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: CommunityQuestionSerializer, **error_responses(401, 403, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=CommunityQuestionSerializer,
        responses={201: CommunityQuestionSerializer, **error_responses(400, 401, 403)},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = CommunityQuestionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        question = content_services.question_ask(
            member=request.user.member, title=body.validated_data["title"], body=body.validated_data.get("body", "")
        )
        return Response(CommunityQuestionSerializer(question).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["get"], responses={200: CommunityAnswerSerializer(many=True), **error_responses(401, 403, 404)}
    )
    @extend_schema(
        methods=["post"],
        request=CommunityAnswerSerializer,
        responses={201: CommunityAnswerSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def answers(self, request: Request, pk: str | None = None) -> Response:
        """A question's answers; POST to answer."""
        question = self.get_object()
        if request.method == "POST":
            body = CommunityAnswerSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            answer = content_services.question_answer(
                member=request.user.member, question=question, body=body.validated_data["body"]
            )
            return Response(CommunityAnswerSerializer(answer).data, status=status.HTTP_201_CREATED)
        return Response(CommunityAnswerSerializer(selectors.question_answers(question=question), many=True).data)


class ArticleViewSet(viewsets.ReadOnlyModelViewSet):
    """The knowledge base: search with `q`, narrow with `category` (slug) or `faq=1`."""

    serializer_class = KnowledgeArticleSerializer
    permission_classes = MEMBER

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Article.objects.none()
        params = self.request.query_params
        category = KnowledgeCategory.objects.filter(slug=params.get("category", "")).first()
        return selectors.article_search(
            query=params.get("q", "")[:200], category=category, faq=params.get("faq") == "1"
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Words to find in the title or body"),
            OpenApiParameter("category", str, description="A category's slug"),
            OpenApiParameter("faq", bool, description="1: only FAQ articles"),
        ],
        responses={200: KnowledgeArticleSerializer(many=True), **error_responses(401, 403, paginated=True)},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: KnowledgeArticleSerializer, **error_responses(401, 403, 404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)
