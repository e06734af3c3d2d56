"""lsp: see DESIGN.md (not built yet)."""
