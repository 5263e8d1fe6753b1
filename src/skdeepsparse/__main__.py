"""``python -m skdeepsparse``."""

from .cli import main

raise SystemExit(main())
