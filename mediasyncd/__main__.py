"""`python -m mediasyncd` runs the same CLI as the `mediasyncd` console script."""

import sys

from mediasyncd.cli import main

sys.exit(main())
