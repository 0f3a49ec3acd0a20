from __future__ import annotations

from django.conf import settings
from django.db import models


class CartItem(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="cart_items", on_delete=models.CASCADE
    )
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name
