"""``python -m hpsweep.cli``: the ``hpsweep`` command."""

import sys

from hpsweep.cli import main

sys.exit(main())
