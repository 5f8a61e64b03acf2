"""Portal pages of the rewards engine; each topic module defines its own `urlpatterns`."""

from rewards.views import badges, leaderboards, points, shop

app_name = "rewards"
urlpatterns = [*points.urlpatterns, *badges.urlpatterns, *leaderboards.urlpatterns, *shop.urlpatterns]
