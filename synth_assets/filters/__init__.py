"""Quality filters: each adds its verdict column to `filtered`; the first failing one names the reject reason."""
