"""jokemine: mine, clean, deduplicate, split and publish humor datasets."""

__version__ = "0.1.0"
