"""``GET /`` for a browser: the status document as a small page, with the way into the web."""

from __future__ import annotations

from html import escape


def _yes(ok: bool) -> str:
    return '<span class="ok">●&nbsp;bien</span>' if ok else '<span class="bad">●&nbsp;falla</span>'


def render_status(doc: dict) -> str:
    rows = []
    for name in ("database", "model"):
        part = doc.get(name) or {}
        label = {"database": "Base de datos", "model": "Modelo"}[name]
        detail = part.get("provider") or part.get("detail") or ""
        rows.append(f"<tr><th>{label}</th><td>{_yes(bool(part.get('ok')))}</td><td>{escape(str(detail))}</td></tr>")
    for name, part in (doc.get("channels") or {}).items():
        shown = ", ".join(f"{k}: {v}" for k, v in part.items() if v is not None and not isinstance(v, dict))
        rows.append(f"<tr><th>{escape(name)}</th><td></td><td>{escape(shown)}</td></tr>")
    state = "funcionando" if doc.get("status") == "ok" else "degradado"
    return f"""<!doctype html>
<html lang="es"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>hilo · estado</title><link rel="stylesheet" href="/web/static/hilo.css"></head>
<body class="status-page"><main class="card">
<h1>hilo <small>{escape(str(doc.get("version", "")))}</small></h1>
<p>Servidor <strong>{state}</strong>.</p>
<p class="actions"><a class="button primary" href="/web/chat">Abrir el chat</a>
<a class="button" href="/web/admin">Consola de administración</a>
<a class="button" href="/docs">API (/docs)</a></p>
<table class="status">{''.join(rows)}</table>
<p class="muted">Este documento en JSON: <code>curl {escape('http://<host>/')}</code> (o <code>/webhooks/health</code>).</p>
</main></body></html>"""
