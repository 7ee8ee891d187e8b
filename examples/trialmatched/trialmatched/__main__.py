"""``python -m trialmatched --port 8001``."""

from .cli import main

raise SystemExit(main())
