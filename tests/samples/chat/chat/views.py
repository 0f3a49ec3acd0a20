from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.generic import DetailView, ListView
from django.views.generic.edit import CreateView, UpdateView

import turbo
from turbo import APPEND

from .models import Message, Room
from .streams import RoomStream

if TYPE_CHECKING:
    from django.forms import BaseModelForm
    from django.http import HttpRequest, HttpResponse


class RoomList(ListView):
    model = Room
    context_object_name = "rooms"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["stream_names"] = sorted(turbo.stream_registry.get_stream_names())
        return context


class RoomDetail(DetailView):
    model = Room
    context_object_name = "room"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["rooms"] = Room.objects.all()
        return context


class RoomCreate(CreateView):
    model = Room
    fields = ["name"]


class RoomUpdate(UpdateView):
    model = Room
    fields = ["name"]


class MessageCreate(CreateView):
    model = Message
    fields = ["text"]

    def get_success_url(self) -> str:
        # The empty form again, in its frame.
        return reverse("chat:send", kwargs={"pk": self.kwargs["pk"]})

    def form_valid(self, form: BaseModelForm[Message]) -> HttpResponse:
        form.instance.room = get_object_or_404(Room, pk=self.kwargs["pk"])
        return super().form_valid(form)


@require_POST
def message_delete(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_object_or_404(Message, pk=pk)
    message.delete()
    return redirect(message.room)


@require_POST
def announce(request: HttpRequest, pk: int) -> HttpResponse:
    announcement = render_to_string(
        "chat/components/announcement.html", {"text": request.POST["text"]}
    )
    RoomStream(pk).stream_raw(
        f'<turbo-stream action="{APPEND}" target="messages">'
        f"<template>{announcement}</template></turbo-stream>"
    )
    return redirect("chat:room", pk=pk)
