from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import views as auth_views

if TYPE_CHECKING:
    from django.contrib.auth.forms import AuthenticationForm
    from django.http import HttpResponse
from django.urls import include, path


class LoginView(auth_views.LoginView):
    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        # Turbo Drive renders a form's answer only if it is a redirect or an error.
        response = super().form_invalid(form)
        response.status_code = 422
        return response


urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("chat.urls")),
]
