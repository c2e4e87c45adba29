"""Identity graph: identifiers, stitching into profiles, merges and their undo."""
