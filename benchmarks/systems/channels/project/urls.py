"""No pages: the benchmark only uses the websocket."""

from __future__ import annotations

urlpatterns: list[object] = []
