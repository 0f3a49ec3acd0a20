#!/usr/bin/env python3
"""Run the benchmarks: ``python3 benchmarks/run.py [--quick] [--systems ...] ...``.

The one command. It prepares what it needs, then measures and reports:

- ``npm ci && npm run build`` if the vendored Turbo is missing (the package's build step);
- a virtualenv at ``benchmarks/.work/venvs/bench``, made with the running python3,
  holding this repository (editable, with its ``redis`` extra) and
  ``benchmarks/requirements.txt``; made anew when either, or the Python, changes;
- then it runs again inside that virtualenv: see ``bench/main.py`` (``--help``).

Everything it generates lives under ``benchmarks/.work/``, except the results
(``benchmarks/results/`` by default).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
VENV = BENCHMARKS / ".work" / "venvs" / "bench"
REQUIREMENTS = BENCHMARKS / "requirements.txt"


def vendor_turbo() -> None:
    """Build the package's vendored Turbo, if it is missing."""
    if (ROOT / "turbo" / "static" / "turbo" / "vendor").is_dir():
        return
    print("turbo/static/turbo/vendor/ is missing: npm ci && npm run build", flush=True)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)
    subprocess.run(["npm", "run", "build"], cwd=ROOT, check=True)


def wanted_install() -> str:
    """A digest of what the virtualenv must hold: it changes when the requirements do."""
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def ensure_venv() -> Path:
    """The virtualenv's python, created and installed as needed."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    wanted = wanted_install()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists() or stamp.exists():
        # A stale virtualenv may be another Python's: make it anew with this one.
        print(f"creating {VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    print("installing the benchmark's requirements (once)", flush=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS), "-e", f"{ROOT}[redis]"], check=True)
    stamp.write_text(wanted)
    return python


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def main() -> int:
    vendor_turbo()
    if not in_venv():
        python = ensure_venv()
        os.execv(python, [str(python), __file__, *sys.argv[1:]])
    sys.path.insert(0, str(BENCHMARKS))
    from bench.main import main as run

    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
