"""Domain-agnostic building blocks: ids, time, crypto, pagination cursors, database plumbing."""
