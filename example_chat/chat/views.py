from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from turbo import TurboStreamResponse, accepts_turbo_stream, fragments

from .models import Message, Room
from .streams import OwnRoomsStream

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


class RoomForm(forms.ModelForm):
    class Meta:
        model = Room
        fields = ["name", "private"]
        widgets = {
            "name": forms.TextInput(attrs={"placeholder": "New room", "autocomplete": "off"})
        }


class MessageForm(forms.ModelForm):
    class Meta:
        model = Message
        fields = ["text"]
        widgets = {
            "text": forms.TextInput(
                attrs={"placeholder": "Say something", "autocomplete": "off", "autofocus": True}
            )
        }


def visible_room(request: HttpRequest, pk: int) -> Room:
    room = get_object_or_404(Room, pk=pk)
    if not room.visible_to(request.user):
        raise PermissionDenied("This room is private.")
    return room


def editable_message(request: HttpRequest, pk: int) -> Message:
    message = get_object_or_404(Message.objects.select_related("room"), pk=pk)
    visible_room(request, message.room_id)
    if message.author_id is not None and message.author_id != request.user.pk:
        raise PermissionDenied("Only its author may change this message.")
    return message


def room_list(request: HttpRequest) -> HttpResponse:
    # Oldest first: the order RoomStream appends new rooms in, on every open list.
    rooms = Room.objects.visible_to(request.user).order_by("pk")
    # Private rooms are announced on their owner's stream alone.
    own_rooms = OwnRoomsStream(request.user.pk) if request.user.is_authenticated else None
    context = {"rooms": rooms, "own_rooms": own_rooms, "form": RoomForm()}
    return render(request, "chat/room_list.html", context)


def room_detail(request: HttpRequest, pk: int) -> HttpResponse:
    room = visible_room(request, pk)
    return render(request, "chat/room_detail.html", {"room": room, "form": MessageForm()})


@require_POST
def room_create(request: HttpRequest) -> HttpResponse:
    form = RoomForm(request.POST)
    if form.is_valid():
        room = form.save(commit=False)
        if request.user.is_authenticated:
            room.owner = request.user
        else:
            room.private = False  # an anonymous room has nobody to keep it for
        room.save()  # RoomStream.on_save adds it to every open room list
        form = RoomForm()
    if not accepts_turbo_stream(request):
        return redirect("room_list")
    return TurboStreamResponse(
        fragments.replace("chat/room_form.html", {"form": form}, id="room-form", request=request)
    )


@require_POST
def room_delete(request: HttpRequest, pk: int) -> HttpResponse:
    room = visible_room(request, pk)
    if room.owner_id is not None and room.owner_id != request.user.pk:
        raise PermissionDenied("Only its owner may delete this room.")
    room.delete()
    return redirect("room_list")


@require_POST
def message_create(request: HttpRequest, pk: int) -> HttpResponse:
    room = visible_room(request, pk)
    form = MessageForm(request.POST)
    if form.is_valid():
        message = form.save(commit=False)
        message.room = room
        message.author = request.user if request.user.is_authenticated else None
        message.save()  # MessageStream.on_save appends it on every page of the room
        form = MessageForm()
    if not accepts_turbo_stream(request):
        return redirect(room)
    # The form resets itself: a fresh one replaces it.
    return TurboStreamResponse(
        fragments.replace(
            "chat/message_form.html",
            {"form": form, "room": room},
            id="message-form",
            request=request,
        )
    )


def message_edit(request: HttpRequest, pk: int) -> HttpResponse:
    message = editable_message(request, pk)
    form = MessageForm(request.POST or None, instance=message)
    if request.method == "POST" and form.is_valid():
        form.save()  # MessageStream.on_save replaces it on every page of the room
        if not accepts_turbo_stream(request):
            return redirect(message.room)
        return TurboStreamResponse(
            fragments.replace(
                "chat/components/message.html", {"message": message}, id=f"message-{message.pk}"
            )
        )
    return render(request, "chat/message_edit.html", {"message": message, "form": form})


@require_POST
def message_delete(request: HttpRequest, pk: int) -> HttpResponse:
    message = editable_message(request, pk)
    message.delete()  # MessageStream.on_delete removes it from every page of the room
    if not accepts_turbo_stream(request):
        return redirect(message.room)
    return TurboStreamResponse(fragments.remove(id=f"message-{pk}"))
