from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from tests.testapp.models import Message, Room


def room(request: HttpRequest, pk: int) -> HttpResponse:
    """A chat room page; ``?twice=1`` subscribes to the room's stream twice."""
    return render(
        request,
        "live/room.html",
        {"room": get_object_or_404(Room, pk=pk), "twice": "twice" in request.GET},
    )


@require_POST
def say(request: HttpRequest, pk: int) -> HttpResponse:
    """Post a message from a request, so the server process broadcasts it."""
    message = Message.objects.create(room=get_object_or_404(Room, pk=pk), text=request.POST["text"])
    return HttpResponse(f"message-{message.pk}", status=201)
