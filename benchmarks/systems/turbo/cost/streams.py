"""A model stream nobody subscribes to: what every save of a Streamed pays for."""

from __future__ import annotations

import turbo

from .models import Streamed


class StreamedStream(turbo.ModelStream):
    class Meta:
        model = Streamed

    def on_save(self, item, created, *args, **kwargs):
        if created:
            self.append("cost/item.html", {"item": item}, id="items")
        else:
            self.replace("cost/item.html", {"item": item}, id=f"item-{item.pk}")

    def on_delete(self, item, *args, **kwargs):
        self.remove(id=f"item-{item.pk}")
