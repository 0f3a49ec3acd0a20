"""Four small Django projects written as turbo-django's samples use its API (tests/test_samples.py).

Each of ``quickstart``, ``chat``, ``reminders`` and ``components_demo`` is a
project root, as a ``manage.py`` directory is: its app and its ``project``
package import from there. What they share here is the setup a project of
django-turbo-streams writes differently from one of turbo-django (settings,
``asgi.py``, ``{% turbo_head %}`` in the base template); the apps are written
as turbo-django's users write theirs.
"""
