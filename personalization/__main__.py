"""``python -m personalization``: the command line (see ``personalization.cli``)."""

from personalization.cli import main

raise SystemExit(main())
