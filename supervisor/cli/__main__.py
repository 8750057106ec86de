"""``python -m supervisor.cli``: the same as the ``parkmesh`` command."""

import sys

from supervisor.cli import main

sys.exit(main())
