"""The save view of the POST scenarios: what a form posting a message reaches."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import Message


# The benchmark's poster has no session to hold a CSRF token: exempt here, where
# the only client is the benchmark; a site's form view keeps the check.
@csrf_exempt
@require_POST
def create_message(request: HttpRequest) -> HttpResponseRedirect:
    Message.objects.create(text=request.POST["text"])
    # 303 See Other, the answer to a form POST (Django has no class of its own for it).
    return HttpResponseRedirect("/", status=303)
