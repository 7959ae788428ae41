"""Database plumbing: the declarative base, sessions, and the turn path's prepared statements."""
