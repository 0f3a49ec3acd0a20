from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .models import CartItem
from .streams import CartCountComponent, UserStream

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "app/home.html", {})


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    return render(request, "app/inbox.html", {"user_stream": UserStream(request.user)})


@login_required
@require_POST
def add_to_cart(request: HttpRequest) -> HttpResponse:
    CartItem.objects.create(user=request.user, name=request.POST["name"])
    CartCountComponent(request.user).render(count=request.user.cart_items.count())
    return redirect("home")
