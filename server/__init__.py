"""server: see DESIGN.md (not built yet)."""
