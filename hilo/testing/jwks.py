"""A local JWKS server and a token signer: an identity provider (Firebase-like) for tests.

    with JWKSServer(issuer="https://securetoken.google.com/demo", audience="demo") as idp:
        settings = Settings(jwt_jwks_url=idp.url, jwt_issuer=idp.issuer, jwt_audience=idp.audience, ...)
        token = idp.token("user-1", entitlements=["premium"])
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from hilo.testing.http import QuietHandler, QuietServer


def _rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class JWKSServer:
    def __init__(self, issuer: str = "https://securetoken.google.com/hilo-test", audience: str = "hilo-test"):
        self.issuer, self.audience = issuer, audience
        self.keys = {"k1": _rsa()}  # published
        self.rogue = _rsa()  # never published: tokens it signs must be refused
        self.hits = 0
        server = self

        class Handler(QuietHandler):
            def do_GET(self):  # noqa: N802
                if self.path.split("?")[0] != "/jwks.json":
                    self.send_error(404)
                    return
                server.hits += 1
                body = json.dumps(server.jwks()).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"

    def jwks(self) -> dict:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": keys}

    def rotate(self, kid: str) -> None:
        """Publish a new key (the old ones stay until removed)."""
        self.keys[kid] = _rsa()

    def token(self, sub: str, *, kid: str = "k1", key=None, expires_in: float = 3600, issuer: str | None = None,
              audience: str | None = None, algorithm: str = "RS256", **claims: Any) -> str:
        issued = int(time.time())
        payload = {"iss": issuer or self.issuer, "aud": audience or self.audience, "sub": sub,
                   "iat": issued, "auth_time": issued, "exp": issued + int(expires_in), **claims}
        signing = key if key is not None else self.keys[kid]
        return jwt.encode(payload, signing, algorithm=algorithm, headers={"kid": kid})

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> JWKSServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
