"""Small pieces every stage shares: atomic outputs, logging, progress."""
