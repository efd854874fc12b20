import sys

from runbook.cli.main import main

sys.exit(main())
