"""tiegraph: a live who-knows-whom graph from mail and calendar metadata."""

__version__ = "0.1.0"
