"""Core machinery shared by all job kinds: sweep planning and the driver (layout, checkpoint, progress)."""
