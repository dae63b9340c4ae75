#!/usr/bin/env python3
"""Known-answer vectors for the replication protocol's cryptography.

Computes, with pyca/cryptography (OpenSSL underneath, no code shared with Trent), what
docs/spec/replication.md specifies, from fixed inputs:

- §4.1: ECDH P-384 between two fixed private scalars (RAKA, RAKB) giving Z, the ``Info``
  encoding, and RWK = HKDF-SHA-384(Z, salt = session id bytes, info = Info, L = 32);
- §4.2: AES-256-GCM wraps of fixed key material with IV = u32 j || 8 zero bytes and the
  spec's AAD;
- §2, §3.2: an RSK's id (first 16 bytes of SHA-256 over its SPKI DER) and an ECDSA
  P-384 / SHA-384 signature over "trent-replication-v1" || 0x00 || body, as r || s.
  Signatures use RFC 6979 deterministic nonces so reruns give identical files; any valid
  signature would do, since verifiers do not depend on the nonce.

Every input is derived from a label by SHA-384/SHA-256, so the file is reproducible:

    python3 tools/gen-replication-vectors.py           # writes test/vectors/replication/rwk-kdf.json
    python3 tools/gen-replication-vectors.py --check   # exits 1 if the committed file differs

The encodings below are written from the spec's text, not from Trent's TypeScript.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import sys
from typing import Any

import cryptography
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

OUTPUT = os.path.join(os.path.dirname(__file__), "..", "test", "vectors", "replication", "rwk-kdf.json")

# Order of the P-384 base point (SEC 2 §2.5.1 / FIPS 186-4 D.1.2.4).
P384_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973


def scalar_from_label(label: str) -> int:
    """A private scalar in [1, n-1], reproducibly derived from a label."""
    digest = int.from_bytes(hashlib.sha384(label.encode()).digest(), "big")
    return digest % (P384_ORDER - 1) + 1


def bytes_from_label(label: str, length: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"{label}#{counter}".encode()).digest()
        counter += 1
    return out[:length]


def uncompressed_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def lp(data: bytes) -> bytes:
    """lp(x) = u16 length || x (spec §4.1)."""
    assert len(data) <= 0xFFFF
    return struct.pack(">H", len(data)) + data


def rwk_info(binding: dict[str, str], versions: list[int], raka_pub: bytes, rakb_pub: bytes) -> bytes:
    """Info of spec §4.1."""
    return (
        b"trent/rwk/v1\x00"
        + lp(binding["partition"].encode("utf-8"))
        + lp(binding["sourceRegion"].encode("utf-8"))
        + lp(binding["destinationRegion"].encode("utf-8"))
        + lp(binding["keyId"].encode("utf-8"))
        + struct.pack(">H", len(versions))
        + b"".join(struct.pack(">I", v) for v in versions)
        + lp(raka_pub)
        + lp(rakb_pub)
    )


def wrap_aad(session_id: bytes, key_id: str, version: int, material_id: bytes) -> bytes:
    """AAD of spec §4.2."""
    return b"trent/rwk-wrap/v1\x00" + session_id + lp(key_id.encode("utf-8")) + struct.pack(">I", version) + material_id


def rwk_case(name: str, binding: dict[str, str], versions: list[int]) -> dict[str, Any]:
    raka = ec.derive_private_key(scalar_from_label(f"{name}/raka"), ec.SECP384R1())
    rakb = ec.derive_private_key(scalar_from_label(f"{name}/rakb"), ec.SECP384R1())
    raka_pub = uncompressed_point(raka)
    rakb_pub = uncompressed_point(rakb)
    z = raka.exchange(ec.ECDH(), rakb.public_key())
    assert z == rakb.exchange(ec.ECDH(), raka.public_key()) and len(z) == 48
    session_id = bytes.fromhex(binding["sessionId"])
    info = rwk_info(binding, versions, raka_pub, rakb_pub)
    rwk = HKDF(algorithm=hashes.SHA384(), length=32, salt=session_id, info=info).derive(z)
    materials = []
    for index, version in enumerate(versions):
        material = bytes_from_label(f"{name}/material/{version}", 32)
        material_id = bytes_from_label(f"{name}/material-id/{version}", 32)
        iv = struct.pack(">I", index) + b"\x00" * 8
        aad = wrap_aad(session_id, binding["keyId"], version, material_id)
        wrapped = AESGCM(rwk).encrypt(iv, material, aad)
        materials.append(
            {
                "materialVersion": version,
                "materialId": material_id.hex(),
                "material": material.hex(),
                "iv": iv.hex(),
                "aad": aad.hex(),
                "wrapped": wrapped.hex(),
            }
        )
    return {
        "name": name,
        "binding": binding,
        "versions": versions,
        "rakaPrivateScalar": raka.private_numbers().private_value.to_bytes(48, "big").hex(),
        "rakaPublicKey": raka_pub.hex(),
        "rakbPrivateScalar": rakb.private_numbers().private_value.to_bytes(48, "big").hex(),
        "rakbPublicKey": rakb_pub.hex(),
        "sharedSecret": z.hex(),
        "salt": session_id.hex(),
        "info": info.hex(),
        "rwk": rwk.hex(),
        "materials": materials,
    }


def rsk_case(name: str, body: bytes) -> dict[str, Any]:
    key = ec.derive_private_key(scalar_from_label(f"{name}/rsk"), ec.SECP384R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    signing_input = b"trent-replication-v1\x00" + body
    der = key.sign(signing_input, ec.ECDSA(hashes.SHA384(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    return {
        "name": name,
        "pkcs8": pkcs8.hex(),
        "spki": spki.hex(),
        "id": hashlib.sha256(spki).digest()[:16].hex(),
        "body": body.hex(),
        "signingInput": signing_input.hex(),
        "signature": (r.to_bytes(48, "big") + s.to_bytes(48, "big")).hex(),
    }


def build() -> dict[str, Any]:
    return {
        "source": (
            f"tools/gen-replication-vectors.py with pyca/cryptography {cryptography.__version__} "
            f"({openssl_backend.openssl_version_text()}): ECDH P-384, HKDF-SHA384, AES-256-GCM and "
            "ECDSA P-384/SHA-384 (RFC 6979 nonces) from pyca, with the Info/AAD/IV encodings written "
            "from docs/spec/replication.md §2, §3.2, §4.1, §4.2; independent of Trent's TypeScript."
        ),
        "spec": "docs/spec/replication.md",
        "rwk": [
            rwk_case(
                "single version",
                {
                    "sessionId": bytes_from_label("single/session", 16).hex(),
                    "partition": "trent-7f3a0c1d",
                    "sourceRegion": "us-east-1",
                    "destinationRegion": "eu-west-1",
                    "keyId": "mrk-1234abcd12ab34cd56ef1234567890ab",
                },
                [1],
            ),
            rwk_case(
                "several versions, wide version numbers, non-ASCII partition",
                {
                    "sessionId": bytes_from_label("several/session", 16).hex(),
                    "partition": "trent-\u00e9t\u00e9-\u6771\u4eac",
                    "sourceRegion": "ap-southeast-2",
                    "destinationRegion": "eu-central-1",
                    "keyId": "mrk-0f0e0d0c0b0a09080706050403020100",
                },
                [1, 2, 258, 65536, 4294967295],
            ),
            rwk_case(
                "replica to primary, later versions only",
                {
                    "sessionId": bytes_from_label("reverse/session", 16).hex(),
                    "partition": "trent-7f3a0c1d",
                    "sourceRegion": "eu-west-1",
                    "destinationRegion": "us-east-1",
                    "keyId": "mrk-1234abcd12ab34cd56ef1234567890ab",
                },
                [3, 4],
            ),
        ],
        "rsk": [
            rsk_case("typical body", b'{"protocol":"trent-replication/1","type":"AgreementOffer"}'),
            rsk_case("empty body", b""),
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    args = parser.parse_args()
    text = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
    path = os.path.normpath(OUTPUT)
    if args.check:
        # Compares everything but "source", which names the library versions of the run.
        with open(path, encoding="utf-8") as f:
            committed = json.load(f)
        fresh = json.loads(text)
        committed.pop("source", None)
        fresh.pop("source", None)
        if committed != fresh:
            print(f"{path} is stale: rerun tools/gen-replication-vectors.py", file=sys.stderr)
            return 1
        return 0
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
