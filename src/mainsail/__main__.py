"""``python -m mainsail`` = the ``mainsail`` command."""

from mainsail.cli.main import main

raise SystemExit(main())
