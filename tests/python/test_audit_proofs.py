"""An independent check of the audit trail's integrity claims, written from
the specifications rather than from our Rust code: RFC 9162 Merkle hashing and
proof verification, the documented canonical entry encoding, and the C2SP
signed-note checkpoint signed with Ed25519 (verified with `cryptography`)."""

import base64
import hashlib
import pathlib
import struct

import anyio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from mcp import ClientSession, StdioServerParameters, stdio_client


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves: list) -> bytes:
    """RFC 9162 §2.1.1 Merkle Tree Hash over leaf hashes."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(index: int, size: int, leaf: bytes, path: list, root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes, proof: list) -> bool:
    """RFC 9162 §2.1.4.2."""
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0 or first > second or not proof:
        return False
    if first & (first - 1) == 0:
        proof = [first_hash] + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


# Certificate Transparency test vectors: the verifier above must agree.
CT_LEAVES = [bytes.fromhex(h) for h in [
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]]
CT_ROOT8 = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")


def test_python_verifier_agrees_with_the_ct_test_vectors():
    leaves = [leaf_hash(x) for x in CT_LEAVES]
    assert mth(leaves) == CT_ROOT8
    path = [bytes.fromhex(h) for h in [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]]
    assert verify_inclusion(5, 8, leaves[5], path, CT_ROOT8)
    assert not verify_inclusion(4, 8, leaves[5], path, CT_ROOT8)
    proof = [bytes.fromhex(h) for h in [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]]
    assert verify_consistency(6, 8, mth(leaves[:6]), CT_ROOT8, proof)
    assert not verify_consistency(5, 8, mth(leaves[:6]), CT_ROOT8, proof)


def decode_entry(data: bytes) -> dict:
    """The documented canonical encoding (src/audit/encoding.rs), version 1."""
    tag = b"ssm-audit-entry/v1\x00"
    assert data.startswith(tag)
    pos = len(tag)
    (seq,) = struct.unpack(">Q", data[pos:pos + 8])
    pos += 8

    def string():
        nonlocal pos
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        s = data[pos + 4:pos + 4 + n].decode()
        pos += 4 + n
        return s

    def optional():
        nonlocal pos
        flag = data[pos]
        pos += 1
        return string() if flag == 1 else None

    out = {"sequence": seq}
    for name, kind in [("audit_id", string), ("timestamp", string), ("user_id", string),
                       ("action", string), ("resource_type", string), ("resource_id", string),
                       ("severity", string), ("outcome", string), ("session_id", optional),
                       ("details", string), ("changes", optional), ("tenant_id", optional),
                       ("correlation_id", optional), ("tags", string), ("purpose", optional),
                       ("personal", string)]:
        out[name] = kind()
    out["prev_hash"] = data[pos:pos + 32]
    assert pos + 32 == len(data), "no trailing bytes"
    return out


def flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


async def _audit_session(binary: str, data_dir: pathlib.Path) -> None:
    params = StdioServerParameters(
        command=binary, args=["--data-dir", str(data_dir), "--log-level", "warn", "--toolsets", "audit"])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()

            async def call(name, args):
                r = await s.call_tool(name, args)
                assert r.is_error is False, r
                return r.structured_content

            logged = []
            for i in range(13):
                logged.append(await call("audit_log", {
                    "user_id": f"u{i % 3}", "action": "read", "resource_type": "player",
                    "resource_id": str(i), "tenant_id": "lakers", "details": {"i": i},
                    "changes": {"before": None, "after": {"pts": i}}, "tags": ["t"]}))
            size = 13
            root = bytes.fromhex(logged[-1]["root_hash"])

            leaves, prev = [], bytes(32)
            for seq in range(1, size + 1):
                p = await call("audit_proof", {"sequence": seq})
                data = bytes.fromhex(p["leaf_data"])
                entry = decode_entry(data)
                assert entry["sequence"] == seq
                assert entry["audit_id"] == logged[seq - 1]["audit_id"]
                assert entry["prev_hash"] == prev, "each entry commits to its predecessor"
                leaf = leaf_hash(data)
                assert leaf.hex() == p["leaf_hash"] == logged[seq - 1]["entry_hash"]
                path = [bytes.fromhex(h) for h in p["audit_path"]]
                assert verify_inclusion(seq - 1, size, leaf, path, root)
                assert not verify_inclusion(seq - 1, size, flip(leaf), path, root)
                if path:
                    assert not verify_inclusion(seq - 1, size, leaf, [flip(path[0])] + path[1:], root)
                leaves.append(leaf)
                prev = leaf
                # audit_log's root for its own tree size is the MTH of that prefix.
                assert mth(leaves) == bytes.fromhex(logged[seq - 1]["root_hash"])
            assert mth(leaves) == root

            for old in range(1, size + 1):
                c = await call("audit_proof", {"old_size": old})
                proof = [bytes.fromhex(h) for h in c["consistency_path"]]
                old_root = mth(leaves[:old])
                assert bytes.fromhex(c["old_root"]) == old_root
                assert verify_consistency(old, size, old_root, root, proof)
                if proof:
                    assert not verify_consistency(old, size, old_root, root, proof[:-1] + [flip(proof[-1])])
                    assert not verify_consistency(old, size, flip(old_root), root, proof)

            cp = await call("audit_checkpoint", {})
            note = cp["checkpoint"]
            body, sigs = note.split("\n\n", 1)
            body += "\n"
            origin, tree_size, root_b64, ts_line = body.splitlines()
            assert (origin, int(tree_size)) == (cp["origin"], size)
            assert base64.b64decode(root_b64) == root
            assert ts_line.startswith("timestamp ")
            # The base64 key may itself contain "+": split off name and id only.
            name, key_id_hex, key_b64 = cp["verifier_key"].split("+", 2)
            key = base64.b64decode(key_b64)
            assert key[0] == 1 and key[1:].hex() == cp["public_key"]
            assert hashlib.sha256(name.encode() + b"\n" + key).digest()[:4].hex() == key_id_hex
            line = sigs.strip("\n")
            assert line.startswith("\u2014 " + name + " ")
            blob = base64.b64decode(line.rsplit(" ", 1)[1])
            assert blob[:4].hex() == key_id_hex
            pub = Ed25519PublicKey.from_public_bytes(key[1:])
            pub.verify(blob[4:], body.encode())  # raises if the signature is bad
            try:
                pub.verify(blob[4:], body.replace(f"\n{size}\n", f"\n{size - 1}\n").encode())
                raise AssertionError("a signature over an edited checkpoint must not verify")
            except Exception as e:  # cryptography raises InvalidSignature
                assert type(e).__name__ == "InvalidSignature", e


def test_proofs_entries_and_checkpoint_verify_independently(binary, data_dir):
    anyio.run(_audit_session, binary, data_dir)
