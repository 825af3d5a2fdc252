"""``python -m lmms_safebench.cli``: the same as the ``lmms-safebench`` command."""

import sys

from . import main

sys.exit(main())
