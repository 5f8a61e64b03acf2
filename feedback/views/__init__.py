"""Portal pages of feedback; each topic module defines its own `urlpatterns`."""
