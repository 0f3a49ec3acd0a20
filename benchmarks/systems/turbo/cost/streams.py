"""The stream of every save of a Streamed: what each create() pays for."""

from __future__ import annotations

import turbo

from .models import Streamed


class StreamedStream(turbo.ModelStream):
    class Meta:
        model = Streamed

    def on_save(self, item, created, *args, **kwargs):
        # As a list page shows new rows: appended to the collection's stream,
        # which a page may watch (savecost.py measures both).
        if created:
            self.collection().append("cost/item.html", {"item": item}, id="items")
        else:
            self.replace("cost/item.html", {"item": item}, id=f"item-{item.pk}")

    def on_delete(self, item, *args, **kwargs):
        self.remove(id=f"item-{item.pk}")
