"""The one chromium the browser tests and bench/widget.py drive: Debian's package (`playwright
install` cannot download browsers here), headless, with nothing phoning home. No Django imports,
so the bench can read it before it sets Django up."""

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
