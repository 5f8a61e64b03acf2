"""Member accounts and profiles, recruitment rounds and applications."""

from __future__ import annotations

from tests.members.factories import ApplicationFactory, RoundFactory
from tests.security.routes import API_MEMBER, Route, statuses

ROUTES: dict[str, Route] = {
    "members:rounds": Route(statuses(200, 200, 200, 200, 200)),
    "members:apply": Route(statuses(200, 302, 200, 200, 200), kwargs={"slug": "round_slug"}),
    "members:my_applications": Route(statuses(302, 200, 200, 200, 200)),
    "members:application_withdraw": Route(
        statuses(302, 302, 404, 404, 404), method="post", kwargs={"pk": "application"}
    ),
    "members:leave": Route(statuses(302, 200, 200, 200, 200)),
    "member-persona": Route(API_MEMBER),
    "round-list": Route(statuses(200, 200, 200, 200, 200)),
    "round-detail": Route(statuses(200, 200, 200, 200, 200), kwargs={"pk": "round"}),
    "round-usage-metrics": Route(statuses(401, 403, 403, 403, 400), method="post", kwargs={"pk": "round"}),
    "application-list": Route(statuses(401, 200, 200, 200, 200)),
    "application-detail": Route(statuses(401, 200, 404, 404, 200), kwargs={"pk": "application"}),
    "application-decide": Route(statuses(401, 403, 403, 403, 400), method="post", kwargs={"pk": "application"}),
}


def objects(world) -> dict[str, object]:
    round_ = RoundFactory()  # rounds are public: no secret in them
    application = ApplicationFactory(round=round_, member=world.member)
    return {"round": round_, "round_slug": round_.slug, "application": application}
