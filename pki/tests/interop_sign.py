"""Signs a Silkline transaction with Python's `cryptography` package: an independent JOSE
implementation, used by tests/interop.rs to show that Silkline accepts what others produce.

usage: interop_sign.py KEY_PEM CHAIN_PEM PAYLOAD_JSON_FILE  -> prints the compact JWS
"""

import base64
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def main() -> None:
    key_path, chain_path, payload_path = sys.argv[1:4]
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(chain_path, "rb") as f:
        chain = x509.load_pem_x509_certificates(f.read())
    with open(payload_path, "rb") as f:
        payload = json.load(f)

    if isinstance(key, ed25519.Ed25519PrivateKey):
        alg = "EdDSA"
    elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
        alg = "ES256"
    else:
        raise SystemExit(f"unsupported key type {type(key).__name__}")

    # The header need not be canonical: spaces and key order as Python's defaults give them.
    header = {
        "typ": "JOSE",
        "x5c": [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")
            for c in chain
        ],
        "alg": alg,
    }
    # For ASCII strings and integers this is RFC 8785's form.
    payload_bytes = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(payload_bytes)).encode()

    if alg == "EdDSA":
        signature = key.sign(signing_input)
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    print(signing_input.decode() + "." + b64url(signature))


if __name__ == "__main__":
    main()
