"""Hatch build hook: every sdist and wheel ships the Turbo that ``npm run build`` vendors.

``turbo/static/turbo/vendor/`` is git-ignored (third-party code is never committed) and
``[tool.hatch.build] artifacts`` puts it into the builds anyway. Without this hook, a build
before ``npm run build`` would silently ship a package whose pages load no Turbo. The hook
only checks: running npm here would make every build need node and the npm registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.config import BuilderConfig
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

VENDOR = Path("turbo", "static", "turbo", "vendor")
VENDORED = ("turbo.es2017-esm.js", "turbo-LICENSE", "turbo-version.txt")


class VendoredTurboHook(BuildHookInterface[BuilderConfig]):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        vendor = Path(self.root) / VENDOR
        missing = [name for name in VENDORED if not (vendor / name).is_file()]
        if not missing:
            return
        message = (
            f"{VENDOR.as_posix()}/ lacks {', '.join(missing)}: the package would ship "
            "without Turbo. Run `npm ci && npm run build` first (see docs/vendoring.rst)."
        )
        # An editable install serves the source tree, where the files can still come later.
        if version == "editable":
            self.app.display_warning(message)
            return
        raise RuntimeError(message)
