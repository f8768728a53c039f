"""Developer tools, not used by lessons."""
