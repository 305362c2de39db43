"""`python -m turnscribe` → the command line."""

import sys

from turnscribe.cli import main

sys.exit(main())
