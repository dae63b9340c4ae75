"""ML-DSA and ML-KEM outside Trent, for test/interop/key-types-pq.test.ts: pyca/cryptography
over OpenSSL (3.5 or later has ML-DSA-44/65/87 and ML-KEM-768/1024), an implementation
independent of Trent's (@noble/post-quantum in the HSM).

Reads a JSON list of requests on stdin and prints a JSON list of results, one per request:
  {"op": "mldsa_verify", "spki", "message", "signature"}  -> {"valid": bool}
  {"op": "mlkem_encapsulate", "spki"}                      -> {"ciphertext", "sharedSecret"}
  {"op": "mlkem_decapsulate", "pkcs8", "ciphertext"}       -> {"sharedSecret"}
  {"op": "public_key", "pkcs8"}                            -> {"spki"}
Bytes travel as hex. A request that fails gives {"error": "<exception name>: <text>"}.
"""
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization


def spki_of(key):
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex()


def run(request):
    op = request["op"]
    if op == "mldsa_verify":
        key = serialization.load_der_public_key(bytes.fromhex(request["spki"]))
        try:
            key.verify(bytes.fromhex(request["signature"]), bytes.fromhex(request["message"]))
            return {"valid": True}
        except InvalidSignature:
            return {"valid": False}
    if op == "mlkem_encapsulate":
        key = serialization.load_der_public_key(bytes.fromhex(request["spki"]))
        shared_secret, ciphertext = key.encapsulate()
        return {"ciphertext": ciphertext.hex(), "sharedSecret": shared_secret.hex()}
    if op == "mlkem_decapsulate":
        key = serialization.load_der_private_key(bytes.fromhex(request["pkcs8"]), password=None)
        return {"sharedSecret": key.decapsulate(bytes.fromhex(request["ciphertext"])).hex()}
    if op == "public_key":
        key = serialization.load_der_private_key(bytes.fromhex(request["pkcs8"]), password=None)
        return {"spki": spki_of(key.public_key())}
    raise ValueError("unknown op " + op)


def main():
    results = []
    for request in json.load(sys.stdin):
        try:
            results.append(run(request))
        except Exception as err:  # reported to the test, which asserts on it
            results.append({"error": type(err).__name__ + ": " + str(err)})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
