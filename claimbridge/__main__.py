"""``python -m claimbridge``: the same as the ``claimbridge`` console script."""

from __future__ import annotations

from claimbridge.cli import main

main()
