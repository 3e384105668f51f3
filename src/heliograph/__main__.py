"""``python -m heliograph`` runs the CLI."""

import sys

from heliograph.cli.main import main

sys.exit(main())
