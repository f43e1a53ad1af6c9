"""pytest setup for the whole repository (``make test`` runs ``pytest tests notebooks``).

The lesson checks (``tests/lesson_checks.py``) ride along nbval's run of each lesson: the claims
of ``tests/claims/<lesson>.py`` and a figure check after every cell that draws. See
CONTRIBUTING.md, "Claims and figures under test".
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))

pytest_plugins = ["lesson_checks"]
