"""The shared kit: what every part of hilo uses and that knows no domain.

Errors below HTTP (:mod:`hilo.kit.errors`), ids and the clock, settings, pagination, the
event bus, and the database (sessions, the turn path's prepared statements, the declarative
base every domain's tables derive from). Nothing here imports a domain, a channel or FastAPI.
"""
