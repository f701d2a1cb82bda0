"""`python -m bindbot` is the same as the `bindbot` console script."""

import sys

from bindbot.cli import main

sys.exit(main())
