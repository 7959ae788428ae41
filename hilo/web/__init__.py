"""The web pages: a chat for any assistant the signed-in user may use, and the admin console.

The server serves only the pages' shells and assets (files in this package: no build step, no
CDN), the sign-in and its session, and a few reads no API has (the user's active thread, the
conversations list). Everything else the pages show or change goes through hilo's own HTTP
APIs (``/v1``, ``/admin``, the packs' routes), authorised by the session cookie plus its CSRF
header (:mod:`hilo.identity.sessions`). ``create_app`` calls :func:`install`.
"""

from __future__ import annotations

from hilo.web.routes import STATIC, install

__all__ = ["STATIC", "install"]
