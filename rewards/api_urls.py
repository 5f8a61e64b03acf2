"""REST endpoints of the rewards engine under /api/v1/; each topic module defines its own `urlpatterns`."""

from rewards.api import badges, leaderboards, points, shop

urlpatterns = [*points.urlpatterns, *badges.urlpatterns, *leaderboards.urlpatterns, *shop.urlpatterns]
