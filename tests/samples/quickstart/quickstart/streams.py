from __future__ import annotations

import turbo


class BroadcastStream(turbo.Stream):
    pass
