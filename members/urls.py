"""Portal pages of the members app (recruitment and leaving)."""

from members.views import app_name, urlpatterns

__all__ = ["app_name", "urlpatterns"]
