from __future__ import annotations

from django import forms

from .models import Reminder


class ReminderForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Reminder
        fields = ["text"]
