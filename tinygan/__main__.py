"""`python -m tinygan ...` runs the same program as the `tinygan` command (see cli.py)."""
from .cli import main

raise SystemExit(main())
