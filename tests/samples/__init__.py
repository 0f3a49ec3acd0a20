"""Four small Django projects written as turbo-django's samples use its API (tests/test_samples.py).

Each of ``quickstart``, ``chat``, ``reminders`` and ``components_demo`` is a
project root, as a ``manage.py`` directory is: its app and its ``project``
package import from there. What they share here is the setup a project of
django-turbo-streams writes differently from one of turbo-django (settings,
``asgi.py``, ``{% turbo_head %}`` in the base template); the apps are written
as turbo-django's users write theirs.

They are outside mypy's ``files``, as ``tests/`` and ``example_chat/`` are,
and could not pass it strictly while written the turbo-django way: hooks
rename ``instance`` (``def on_save(self, room, created, ...)``), which mypy
calls an incompatible override; ``room.stream`` is added to the model at run
time; and Django's generic views refuse at run time the type arguments
strict mypy asks for. Their hints are there for the reader.
"""
