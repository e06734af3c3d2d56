"""The repomend language server (`repomend lsp`): "Fix this method" for editors.

It parses locally (repomend.source) to offer the code actions and talks to the repomend server
over HTTP for everything else; see lsp.server for the wiring.
"""
