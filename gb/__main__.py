"""``python -m gb``: the same as the ``gb`` command."""

import sys

from gb.core.cli import main

sys.exit(main())
