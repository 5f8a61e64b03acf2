"""Portal pages of the engagement app: events/, content/, inbox/ (operators)."""

from django.urls import path

from engage.views import content, events, inbox

app_name = "engage"
urlpatterns = [
    path("events/", events.event_list, name="events"),
    path("events/calendar.ics", events.calendar_feed, name="calendar"),
    path("events/<int:pk>/", events.event_detail, name="event_detail"),
    path("events/<int:pk>/register/", events.event_register, name="event_register"),
    path("events/<int:pk>/cancel/", events.event_cancel, name="event_cancel"),
    path("events/<int:pk>/event.ics", events.event_ics, name="event_ics"),
    path("events/<int:pk>/check-in/", events.event_check_in, name="event_check_in"),
    path("content/", content.hub, name="hub"),
    path("content/announcements/", content.announcement_list, name="announcements"),
    path("content/topics/", content.topic_list, name="topics"),
    path("content/topics/<int:pk>/", content.topic_detail, name="topic_detail"),
    path("content/questions/", content.question_list, name="questions"),
    path("content/questions/<int:pk>/", content.question_detail, name="question_detail"),
    path("content/report/<str:kind>/<int:pk>/", content.report, name="report"),
    path("content/kb/", content.knowledge_base, name="kb"),
    path("content/kb/<int:pk>/", content.article_detail, name="article"),
    path("inbox/", inbox.inbox, name="inbox"),
    path("inbox/<int:pk>/<str:action>/", inbox.task_action, name="task_action"),
]
