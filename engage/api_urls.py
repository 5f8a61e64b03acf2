"""REST endpoints of the engagement app under /api/v1/."""

from rest_framework.routers import DefaultRouter

from engage.api import content, events, tasks

router = DefaultRouter()
router.include_root_view = False
router.register("program-events", events.EventViewSet, basename="program-event")
router.register("announcements", content.AnnouncementViewSet, basename="engage-announcement")
router.register("topics", content.TopicViewSet, basename="engage-topic")
router.register("questions", content.QuestionViewSet, basename="engage-question")
router.register("articles", content.ArticleViewSet, basename="engage-article")
router.register("tasks", tasks.TaskViewSet, basename="follow-up-task")

urlpatterns = router.urls
