"""Run untrusted candidate code against a repository's tests, contained."""
