"""repomend: repository-adapted, test-verified program repair."""

__version__ = "0.1.0"
