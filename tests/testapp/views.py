from __future__ import annotations

from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from tests.testapp.models import Board, Message, Room
from tests.testapp.streams import ProgressComponent
from turbo import TurboStreamResponse, accepts_turbo_stream, fragments


def room(request: HttpRequest, pk: int) -> HttpResponse:
    """A chat room page; ``?twice=1`` subscribes to the room's stream twice,
    ``?reconnect=`` sets the client's reconnect policy."""
    context = {
        "room": get_object_or_404(Room, pk=pk),
        "twice": "twice" in request.GET,
        "reconnect": request.GET.get("reconnect"),
    }
    return render(request, "live/room.html", context)


def bare_room(request: HttpRequest, pk: int) -> HttpResponse:
    """A room page without ``{% turbo_head %}``; ``?turbo=1`` loads Turbo by itself, as a
    project's own bundle would."""
    context = {"room": get_object_or_404(Room, pk=pk), "turbo": "turbo" in request.GET}
    return render(request, "live/bare_room.html", context)


def section(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """A page of a room whose layout subscribes to the room's stream, as does the page."""
    context = {"room": get_object_or_404(Room, pk=pk), "number": number, "next": number + 1}
    return render(request, "live/section.html", context)


@require_POST
def post_message(request: HttpRequest, pk: int) -> HttpResponse:
    """Post a message from a form, and redirect back to the room (303), as chats do."""
    room = get_object_or_404(Room, pk=pk)
    Message.objects.create(room=room, text=request.POST["text"])
    return HttpResponseRedirect(reverse("room", args=[room.pk]), status=303)


@require_POST
def say(request: HttpRequest, pk: int) -> HttpResponse:
    """Post a message from a request, so the server process broadcasts it."""
    message = Message.objects.create(room=get_object_or_404(Room, pk=pk), text=request.POST["text"])
    return HttpResponse(f"message-{message.pk}", status=201)


@require_POST
def refresh_board(request: HttpRequest, pk: int) -> HttpResponse:
    """Refresh a board's stream ``?times=`` times, half of them in a transaction."""
    board = get_object_or_404(Board, pk=pk)
    times = int(request.GET.get("times", "1"))
    with transaction.atomic():
        for _ in range(times // 2):
            board.stream.refresh()
    for _ in range(times - times // 2):
        board.stream.refresh()
    return HttpResponse(status=204)


@require_POST
def rename_board(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename a board, which refreshes its stream (``Meta.broadcasts_refreshes``).

    Turbo's form submission gets the new name as a stream response, so the tab
    that renamed the board need not refresh.
    """
    board = get_object_or_404(Board, pk=pk)
    board.name = request.POST["name"]
    board.save()
    if accepts_turbo_stream(request):
        return TurboStreamResponse(fragments.update(text=board.name, id="name"))
    return HttpResponse(status=204)


@require_POST
def note_board(request: HttpRequest, pk: int) -> HttpResponse:
    """Take a note on a board (nothing is kept) and redirect back to it (303):
    Turbo refreshes the page, morphing it."""
    board = get_object_or_404(Board, pk=pk)
    return HttpResponseRedirect(reverse("board", args=[board.pk]), status=303)


def board(request: HttpRequest, pk: int) -> HttpResponse:
    """A board page that morphs on refreshes, with a text field to keep."""
    return render(request, "live/board.html", {"board": get_object_or_404(Board, pk=pk)})


@require_POST
def log_in(request: HttpRequest) -> HttpResponse:
    """Log in the user named in the form, as a login view does (a new session key)."""
    login(request, get_object_or_404(User, username=request.POST["username"]))
    return HttpResponse(status=204)


@require_POST
def log_out(request: HttpRequest) -> HttpResponse:
    """Log out, as a logout view does (the session flushed)."""
    logout(request)
    return HttpResponse(status=204)


@require_POST
def change_password(request: HttpRequest) -> HttpResponse:
    """Change the user's password and keep this session logged in, as Django's view does."""
    request.user.set_password(request.POST["password"])
    request.user.save()
    update_session_auth_hash(request, request.user)
    return HttpResponse(status=204)


def components(request: HttpRequest) -> HttpResponse:
    """A page of live components: the ticker, the user's inbox count, two jobs' progress."""
    jobs = [ProgressComponent(1), ProgressComponent(2)]
    return render(request, "live/components.html", {"jobs": jobs, "user": request.user})
