"""``python -m personaagent.cli``: the same as the ``personaagent`` command."""

import sys

from . import main

sys.exit(main())
