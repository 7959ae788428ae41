"""Sentiment: the offline default says there is no feed; a configured endpoint is read over real
HTTP on loopback, validated, and any failure falls back to the offline answer with the reason."""

from __future__ import annotations

import json
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from hilo.packs.council.sentiment import (
    OFFLINE_NOTE,
    HttpSentiment,
    OfflineSentiment,
    sentiment_source,
)
from hilo.testing.http import QuietHandler, QuietServer

OFFLINE = {"available": False, "news_sentiment": None, "social_sentiment": None, "combined_score": None,
           "note": "Sin fuente de noticias ni redes configurada: el análisis fundamental usa solo datos de mercado."}


class _Feed(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802
        feed = self.server.feed  # type: ignore[attr-defined]
        feed["queries"].append(parse_qs(urlsplit(self.path).query))
        time.sleep(feed.get("delay", 0))
        status, body = feed["answer"]
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def feed():
    httpd = QuietServer(("127.0.0.1", 0), _Feed)
    httpd.feed = {"queries": [], "answer": (200, {"news_sentiment": 0.4, "social_sentiment": -0.2})}
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    httpd.feed["url"] = f"http://127.0.0.1:{httpd.server_address[1]}/sentiment"
    yield httpd.feed
    httpd.shutdown()
    httpd.server_close()


async def test_offline_default_says_there_is_no_feed():
    assert await OfflineSentiment().sentiment("BTC/USDT") == OFFLINE
    assert OFFLINE["note"] == OFFLINE_NOTE
    for url in (None, "", "  "):
        assert isinstance(sentiment_source(url), OfflineSentiment)


async def test_configured_endpoint_is_read(feed):
    source = sentiment_source(feed["url"] + "?token=s3cr3t")
    assert isinstance(source, HttpSentiment)
    answer = await source.sentiment("BTC/USDT")
    assert answer["available"] is True
    assert (answer["news_sentiment"], answer["social_sentiment"]) == (0.4, -0.2)
    assert answer["combined_score"] == pytest.approx(0.1)
    assert "s3cr3t" not in json.dumps(answer)
    assert feed["queries"][-1] == {"symbol": ["BTC/USDT"], "token": ["s3cr3t"]}
    feed["answer"] = (200, {"news_sentiment": -0.6, "social_sentiment": None})  # one score is enough
    answer = await source.sentiment("ETH/USDT")
    assert answer["combined_score"] == pytest.approx(-0.6) and answer["social_sentiment"] is None


@pytest.mark.parametrize(("answer", "reason"), [
    ((500, {"error": "down"}), "HTTP 500"),
    ((200, "<html>no</html>"), "no es JSON"),
    ((200, [0.5]), "no es un objeto JSON"),
    ((200, {"news_sentiment": 3.0, "social_sentiment": 0.1}), "fuera de [-1, 1]"),
    ((200, {"news_sentiment": "bueno"}), "news_sentiment no es un número"),
    ((200, {"news_sentiment": True}), "news_sentiment no es un número"),
    ((200, {"other": 1}), "no trae news_sentiment ni social_sentiment"),
])
async def test_a_bad_answer_falls_back_with_the_reason(feed, answer, reason):
    feed["answer"] = answer
    result = await HttpSentiment(feed["url"]).sentiment("BTC/USDT")
    assert {k: result[k] for k in ("available", "news_sentiment", "social_sentiment", "combined_score")} == {
        "available": False, "news_sentiment": None, "social_sentiment": None, "combined_score": None}
    assert reason in result["note"] and "127.0.0.1" in result["note"]
    assert result["note"].endswith("el análisis fundamental usa solo datos de mercado.")


async def test_slow_and_unreachable_endpoints_fall_back(feed):
    feed["delay"] = 1.0
    slow = await HttpSentiment(feed["url"], timeout=0.3).sentiment("BTC/USDT")
    assert slow["available"] is False and "no respondió en 0.3 s" in slow["note"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = await HttpSentiment(f"http://127.0.0.1:{port}/s", timeout=2).sentiment("BTC/USDT")
    assert dead["available"] is False and "no se pudo conectar" in dead["note"]


def test_a_url_that_is_not_http_is_refused():
    with pytest.raises(ValueError, match="http"):
        sentiment_source("file:///etc/passwd")
