"""`python -m physgan.data`: the data formats' command line (physgan.data.commands)."""

from physgan.data.commands import main

raise SystemExit(main())
