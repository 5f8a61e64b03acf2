"""Engagement: events, content (topics, questions, knowledge base, announcements), the operator inbox and tasks."""

from __future__ import annotations

from community.services import follow_up_task_file
from tests.engage.factories import ArticleFactory, EventFactory, QuestionFactory, TopicFactory
from tests.security.routes import Route, statuses

ROUTES: dict[str, Route] = {
    "engage:events": Route(statuses(302, 200, 200, 200, 200)),
    "engage:calendar": Route(statuses(200, 200, 200, 200, 200)),
    "engage:event_detail": Route(statuses(302, 200, 200, 200, 200), kwargs={"pk": "event"}),
    "engage:event_ics": Route(statuses(200, 200, 200, 200, 200), kwargs={"pk": "event"}),
    "engage:event_register": Route(statuses(302, 302, 302, 302, 302), method="post", kwargs={"pk": "event"}),
    "engage:event_cancel": Route(statuses(302, 302, 302, 302, 302), method="post", kwargs={"pk": "event"}),
    "engage:event_check_in": Route(statuses(302, 404, 404, 404, 400), method="post", kwargs={"pk": "event"}),
    "engage:hub": Route(statuses(302, 200, 200, 200, 200)),
    "engage:kb": Route(statuses(302, 200, 200, 200, 200)),
    "engage:article": Route(statuses(302, 200, 200, 200, 200), kwargs={"pk": "article"}),
    "engage:announcements": Route(statuses(302, 200, 200, 200, 200)),
    "engage:topics": Route(statuses(302, 200, 200, 200, 200)),
    "engage:topic_detail": Route(statuses(302, 200, 200, 200, 200), kwargs={"pk": "topic"}),
    "engage:questions": Route(statuses(302, 200, 200, 200, 200)),
    "engage:question_detail": Route(statuses(302, 200, 200, 200, 200), kwargs={"pk": "question"}),
    "engage:report": Route(statuses(302, 405, 405, 405, 405), kwargs={"kind": "question_kind", "pk": "question"}),
    "engage:inbox": Route(statuses(302, 404, 404, 404, 200)),
    "engage:task_action": Route(
        statuses(302, 404, 404, 404, 302), method="post", kwargs={"pk": "task", "action": "task_action"}
    ),
    "engage-announcement-list": Route(statuses(401, 200, 200, 200, 200)),
    "engage-announcement-detail": Route(statuses(401, 404, 404, 404, 404), kwargs={"pk": "article"}),
    "engage-article-list": Route(statuses(401, 200, 200, 200, 200)),
    "engage-article-detail": Route(statuses(401, 200, 200, 200, 200), kwargs={"pk": "article"}),
    "engage-topic-list": Route(statuses(401, 200, 200, 200, 200)),
    "engage-topic-detail": Route(statuses(401, 200, 200, 200, 200), kwargs={"pk": "topic"}),
    "engage-topic-replies": Route(statuses(401, 200, 200, 200, 200), kwargs={"pk": "topic"}),
    "engage-question-list": Route(statuses(401, 200, 200, 200, 200)),
    "engage-question-detail": Route(statuses(401, 200, 200, 200, 200), kwargs={"pk": "question"}),
    "engage-question-answers": Route(statuses(401, 200, 200, 200, 200), kwargs={"pk": "question"}),
    "program-event-list": Route(statuses(401, 200, 200, 200, 200)),
    "program-event-detail": Route(statuses(401, 200, 200, 200, 200), kwargs={"pk": "event"}),
    "program-event-register": Route(statuses(401, 201, 201, 201, 201), method="post", kwargs={"pk": "event"}),
    "program-event-cancel": Route(statuses(401, 404, 404, 404, 404), method="post", kwargs={"pk": "event"}),
    "program-event-check-in": Route(statuses(401, 403, 403, 403, 400), method="post", kwargs={"pk": "event"}),
    "program-event-draw": Route(statuses(401, 403, 403, 403, 400), method="post", kwargs={"pk": "event"}),
    "follow-up-task-list": Route(statuses(401, 403, 403, 403, 200)),
    "follow-up-task-detail": Route(statuses(401, 403, 403, 403, 200), kwargs={"pk": "task"}),
    "follow-up-task-assign": Route(statuses(401, 403, 403, 403, 400), method="post", kwargs={"pk": "task"}),
    "follow-up-task-complete": Route(statuses(401, 403, 403, 403, 400), method="post", kwargs={"pk": "task"}),
    "follow-up-task-snooze": Route(statuses(401, 403, 403, 403, 400), method="post", kwargs={"pk": "task"}),
}


def objects(world) -> dict[str, object]:
    member = world.member
    task, _created = follow_up_task_file(
        kind="feedback_triage", title=f"Call back {world.secret}", member=member, dedupe_key=f"matrix:{world.secret}"
    )
    return {
        "event": EventFactory(),
        "article": ArticleFactory(),
        "topic": TopicFactory(),
        "question": QuestionFactory(member=member),  # questions are public
        "question_kind": "question",
        "task": task,
        "task_action": "reopen",
    }
