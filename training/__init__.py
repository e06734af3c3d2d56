"""training: see DESIGN.md (not built yet)."""
