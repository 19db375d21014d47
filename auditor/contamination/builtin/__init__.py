"""Built-in benchmark items (see NOTICE and manifest.json)."""
