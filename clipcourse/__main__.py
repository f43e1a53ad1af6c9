"""``python -m clipcourse``: see :mod:`clipcourse.cli`."""

import sys

from .cli import main

sys.exit(main())
