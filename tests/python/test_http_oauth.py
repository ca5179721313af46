"""`--http` as an OAuth 2.1 resource server: JWT access tokens from an
authorization server, checked against its JWK set (signature by key id, `iss`,
`aud`, `exp`/`nbf`), scopes mapped to toolsets; every way a token can be wrong
gets 401 naming why."""

import base64
import hashlib
import hmac
import json
import time

import anyio
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from test_http import INIT, client, free_port, http_server, post  # noqa: F401

ISSUER = "https://auth.example.com"
AUDIENCE = "https://mcp.example.com/mcp"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_of(key: ec.EllipticCurvePrivateKey, kid: str) -> dict:
    n = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big"))}


def sign(key, claims: dict, kid: str = "k1", alg: str = "ES256", secret: bytes | None = None) -> str:
    header = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": kid}).encode())
    payload = b64(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    if alg == "HS256":
        sig = hmac.new(secret, signing_input, hashlib.sha256).digest()
    elif alg == "none":
        sig = b""
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{header}.{payload}.{b64(sig)}"


def claims(**over) -> dict:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "bob", "iat": now, "nbf": now - 5,
            "exp": now + 600, "scope": "audit:read events:write", **over}


async def _scoped(base: str, token: str) -> None:
    async with client(base, token, "2026-07-28") as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert {"verify_chain", "audit_query", "publish_event", "subscribe"} <= names
        assert "erase_subject" not in names and "audit_log" not in names
        assert "check_metric" not in names
        pub = await c.call_tool("publish_event", {"topic": "nba.games.3", "event_type": "t"})
        assert pub.is_error is False, pub.content
        assert (await c.call_tool("verify_chain", {})).structured_content["valid"] is True


def test_jwt_access_tokens_are_checked_and_scoped(binary, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk_of(key, "k1")]}))
    args = ("--oauth-issuer", ISSUER, "--oauth-audience", AUDIENCE, "--oauth-jwks", str(jwks))
    with http_server(binary, tmp_path, *args) as base:
        good = sign(key, claims())
        anyio.run(_scoped, base, good)

        status, headers, body = post(base, {
            "jsonrpc": "2.0", "id": 5, "method": "tools/call",
            "params": {"name": "erase_subject", "arguments": {"user_id": "u", "reason": "r"}},
        }, {"Authorization": f"Bearer {good}"})
        assert status == 403, body
        assert 'scope="audit:write"' in headers["www-authenticate"]

        now = int(time.time())
        wrong = {
            "expired": sign(key, claims(exp=now - 3600, nbf=now - 7200)),
            "not yet valid": sign(key, claims(nbf=now + 3600)),
            "wrong audience": sign(key, claims(aud="https://other.example.com")),
            "wrong issuer": sign(key, claims(iss="https://evil.example.com")),
            "unknown kid": sign(key, claims(), kid="k9"),
            "other key": sign(other, claims()),
            "alg none": sign(key, claims(), alg="none"),
            "HS256 with the public key as secret": sign(
                None, claims(), alg="HS256", secret=json.dumps(jwk_of(key, "k1")).encode()),
            "no sub": sign(key, {k: v for k, v in claims().items() if k != "sub"}),
        }
        for why, token in wrong.items():
            status, headers, body = post(base, INIT, {"Authorization": f"Bearer {token}"})
            assert status == 401, f"{why}: {status} {body}"
            assert 'error="invalid_token"' in headers["www-authenticate"], why
            assert "resource_metadata=" in headers["www-authenticate"], why

        status, headers, _ = post(base, INIT, {"Authorization": f"Bearer {wrong['expired']}"})
        assert "Expired" in headers["www-authenticate"], headers["www-authenticate"]
        # A static token still works beside the JWTs.
        from test_http import RW_TOKEN
        assert post(base, INIT, {"Authorization": f"Bearer {RW_TOKEN}"})[0] == 200
        with __import__("urllib.request").request.urlopen(
                base + "/.well-known/oauth-protected-resource", timeout=5) as r:
            assert json.load(r)["authorization_servers"] == [ISSUER]


def test_oauth_flags_go_together(binary, tmp_path):
    import subprocess
    proc = subprocess.run(
        [binary, "--data-dir", str(tmp_path / "d"), "--http", "127.0.0.1:0",
         "--oauth-issuer", ISSUER], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "go together" in proc.stderr
