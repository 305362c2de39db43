"""Real engines (bundled models) behind a real in-process server; real speech from ../shared/data.
The ``real_engines`` and ``real_server`` fixtures live in ``tests/conftest.py``; this folder's
tests import ``helpers`` and ``servertools`` by name."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
