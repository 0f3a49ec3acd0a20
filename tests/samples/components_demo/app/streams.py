from __future__ import annotations

from typing import TYPE_CHECKING, Any

import turbo
from turbo.components import BroadcastComponent, UserBroadcastComponent

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User


class AlertComponent(BroadcastComponent):
    template_name = "app/components/alert.html"


class CartCountComponent(UserBroadcastComponent):
    template_name = "app/components/cart_count.html"

    def get_context(self) -> dict[str, Any]:
        return {"count": self.user.cart_items.count()}


class UserStream(turbo.Stream):
    def __init__(self, user: User) -> None:
        self.user = user

    def user_passes_test(self, user: AbstractBaseUser | AnonymousUser) -> bool:
        return user.pk == self.user.pk
