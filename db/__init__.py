"""wharf.db: SQL plumbing shared by the metadata and auth stores."""
