"""REST endpoints of the rewards engine under /api/v1/; each topic module defines its own `urlpatterns`.

The most frequent calls first (leaderboard reads, then awards): URL resolution tries the patterns in order."""

from rewards.api import badges, leaderboards, points, shop

urlpatterns = [*leaderboards.urlpatterns, *points.urlpatterns, *badges.urlpatterns, *shop.urlpatterns]
