from __future__ import annotations

from typing import TYPE_CHECKING

from django.shortcuts import render

from .streams import BroadcastStream

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def named_broadcast(request: HttpRequest) -> HttpResponse:
    stream = BroadcastStream()
    return render(request, "quickstart/named.html", {"stream_name": f"{stream.stream_name}"})
