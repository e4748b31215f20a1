"""`python -m etworkbench.cli`, the same as `etwb`."""

import sys

from . import main

sys.exit(main())
