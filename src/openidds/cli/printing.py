"""`idds` commands: printing (issue 12: being built). Registered on the `idds` app by cli/app.py."""

from __future__ import annotations
