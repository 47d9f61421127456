"""`python -m credit.cli`: the `credit` command."""

import sys

from credit.cli import main

sys.exit(main())
