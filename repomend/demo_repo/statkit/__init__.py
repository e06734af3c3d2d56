"""A tiny statistics package used by `repomend demo`."""
