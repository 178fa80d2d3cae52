"""One small function per graph node."""
