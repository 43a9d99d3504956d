#!/usr/bin/env python3
"""An independent DCSA PINT 3.0 sending platform, written from the standard's text
(DCSA-OpenAPI pint/v3/EBL_PINT_v3.0.0.yaml), not from Silkline's code.

It signs with ES256 (ECDSA P-256, JWS signature r||s, RFC 7518 3.4) using the `cryptography`
package, and speaks HTTP with the standard library only.

    pint_client.py keygen DIR
        writes DIR/key.pem (PKCS#8) and DIR/cert.pem (self-signed X.509), the certificate the
        receiving platform pins for this client's platform code.

    pint_client.py send --key K --cert C --url URL --platform P --to-platform R --to-party CODE
                        [--ca FILE] [--document FILE | --document-reference REF]
                        [--supporting-document] [--twice]
        builds one envelope for the transport document of FILE (JSON, its own
        transportDocumentReference) or, without --document, a small built-in one with reference
        REF: the carrier (on P) issues the bill to a shipper (on P), who transfers it
        to party CODE on platform R (both transactions in the first chain entry, with the
        carrier-signed issuance manifest); signs the envelope manifest; starts the transfer, sends
        the supporting document if any was announced, finishes, and prints the signed answer's
        responseCode (after verifying nothing: the receipt is the receiver's to sign). With
        --twice, then starts the very same envelope bytes again (a retry) and prints that answer's
        responseCode on a second line. An https URL's certificate is verified with the CA bundle
        FILE given by --ca (a Silkline network's `ca_bundle`), else with the system's.

Its own JCS (RFC 8785): objects, arrays, strings, booleans, null, integers, and floats as
ECMAScript prints them (`es_number`).
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import ssl
import sys
import urllib.error
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def es_number(x: float) -> str:
    """A number as ECMAScript's Number::toString prints it (RFC 8785 3.2.2.3): the shortest
    digits that round-trip (Python's repr finds the same ones), placed by ECMA-262's rules."""
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError("JSON has no NaN or Infinity")
    if x == 0:
        return "0"
    if x < 0:
        return "-" + es_number(-x)
    mantissa, _, exponent = repr(x).partition("e")
    whole, _, fraction = mantissa.partition(".")
    exp = int(exponent) if exponent else 0
    whole = whole.lstrip("0")
    # x = 0.DIGITS * 10**n
    n = len(whole) + exp if whole else exp - (len(fraction) - len(fraction.lstrip("0")))
    digits = (whole + fraction).lstrip("0").rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    return digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))


def jcs(value) -> bytes:
    """RFC 8785: members sorted by UTF-16 code units, numbers as ECMAScript prints them."""
    def enc(v):
        if isinstance(v, dict):
            keys = sorted(v.keys(), key=lambda k: k.encode("utf-16-be"))
            return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + enc(v[k]) for k in keys) + "}"
        if isinstance(v, list):
            return "[" + ",".join(enc(x) for x in v) + "]"
        if isinstance(v, float):
            return es_number(v)
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2 ** 53:
            return es_number(float(v))  # a JSON number is an IEEE double
        return json.dumps(v, ensure_ascii=False)
    return enc(value).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sign_es256(key, cert_der: bytes, payload: dict) -> str:
    """A compact JWS (RFC 7515 7.1) over the JSON payload, naming the key by x5t#S256."""
    thumbprint = b64url(hashlib.sha256(cert_der).digest())
    header = {"alg": "ES256", "kid": thumbprint, "x5t#S256": thumbprint}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
    der = key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def keygen(directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "independent PINT client")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    with open(os.path.join(directory, "key.pem"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(os.path.join(directory, "cert.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


TLS = None  # the ssl.SSLContext of --ca, if given


def http(method: str, url: str, body: bytes):
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json", "API-Version": "3"})
    try:
        with urllib.request.urlopen(request, timeout=30, context=TLS) as response:
            return response.status, response.headers.get("API-Version"), response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("API-Version"), e.read()


def response_code(body: bytes) -> str:
    """The responseCode of a signed answer (a JSON string holding a compact JWS)."""
    jws = json.loads(body)
    payload = jws.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["responseCode"]


def builtin_document(reference: str) -> dict:
    """A small transport document (the router's tests do not check it against the schema)."""
    return {
        "transportDocumentReference": reference,
        "transportDocumentStatus": "ISSUED",
        "transportDocumentTypeCode": "BOL",
        "isToOrder": False,
        "carrierCode": "PYC",
        "carrierCodeListProvider": "NMFTA",
        "documentParties": {"shipper": {"partyName": "Python shipper"}},
        "consignmentItems": [{"descriptionOfGoods": ["Independent test goods"], "HSCodes": ["640510"]}],
    }


def send(args) -> int:
    with open(args.key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(args.cert, "rb") as f:
        cert_der = x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)

    global TLS
    if args.ca:
        TLS = ssl.create_default_context(cafile=args.ca)
    if args.document:
        with open(args.document, "rb") as f:
            document = json.load(f)
    else:
        document = builtin_document(args.document_reference)
    document_checksum = sha256_hex(jcs(document))
    # Milliseconds: two runs never sign the same transactions (a new envelope is a new chain).
    stamp = datetime.datetime.now(datetime.timezone.utc)
    now = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"

    def party(platform, code, name):
        return {"partyName": name, "eblPlatform": platform,
                "identifyingCodes": [{"codeListProvider": platform, "partyCode": code}]}

    carrier = party(args.platform, "PYCARRIER", "Python carrier")
    shipper = party(args.platform, "PYSHIPPER", "Python shipper")
    recipient = party(args.to_platform, args.to_party, "Recipient")

    issuance_manifest = sign_es256(key, cert_der, {
        "documentChecksum": document_checksum,
        "issueToChecksum": sha256_hex(jcs(shipper)),
    })
    entry = sign_es256(key, cert_der, {
        "eblPlatform": args.platform,
        "transportDocumentChecksum": document_checksum,
        "issuanceManifestSignedContent": issuance_manifest,
        "transactions": [
            {"actionCode": "ISSUE", "actor": carrier, "recipient": shipper, "actionDateTime": now},
            {"actionCode": "TRANSFER", "actor": shipper, "recipient": recipient, "actionDateTime": now},
        ],
    })
    manifest = {
        "transportDocumentChecksum": document_checksum,
        "lastEnvelopeTransferChainEntrySignedContentChecksum": sha256_hex(entry.encode("ascii")),
    }
    supporting = b"An independent supporting document.\n"
    if args.supporting_document:
        manifest["supportingDocuments"] = [{
            "name": "note.txt", "size": len(supporting), "mediaType": "text/plain",
            "documentChecksum": sha256_hex(supporting)}]
    envelope = {
        "transportDocument": document,
        "envelopeManifestSignedContent": sign_es256(key, cert_der, manifest),
        "envelopeTransferChain": [entry],
    }

    base = args.url.rstrip("/")
    envelope_bytes = json.dumps(envelope).encode()
    code = transfer(base, envelope_bytes, supporting)
    if code is None:
        return 2
    print(code)
    if args.twice:
        code = transfer(base, envelope_bytes, supporting)
        if code is None:
            return 2
        print(code)
    return 0


def transfer(base: str, envelope_bytes: bytes, supporting: bytes):
    """One envelope transfer; the signed answer's responseCode, or None."""
    status, version, body = http("POST", base + "/v3/envelopes", envelope_bytes)
    print(f"start: HTTP {status}, API-Version {version}", file=sys.stderr)
    if version != "3.0.0":
        print("the answer lacks API-Version: 3.0.0", file=sys.stderr)
        return None
    if status == 201:
        started = json.loads(body)
        reference = started["envelopeReference"]
        for checksum in started["missingAdditionalDocumentChecksums"]:
            if checksum != sha256_hex(supporting):
                print(f"asked for an unknown document {checksum}", file=sys.stderr)
                return None
            doc_body = json.dumps(base64.b64encode(supporting).decode("ascii")).encode()
            status, _, body = http("PUT", f"{base}/v3/envelopes/{reference}/additional-documents/{checksum}",
                                   doc_body)
            print(f"document: HTTP {status}", file=sys.stderr)
            if status != 204:
                return response_code(body)
        status, _, body = http("PUT", f"{base}/v3/envelopes/{reference}/finish-transfer", b"")
        print(f"finish: HTTP {status}", file=sys.stderr)
    try:
        return response_code(body)
    except Exception as e:  # an unsigned answer
        print(f"no signed answer ({e}): {body[:300]!r}", file=sys.stderr)
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    k = sub.add_parser("keygen")
    k.add_argument("directory")
    s = sub.add_parser("send")
    s.add_argument("--key", required=True)
    s.add_argument("--cert", required=True)
    s.add_argument("--url", required=True)
    s.add_argument("--platform", required=True)
    s.add_argument("--to-platform", required=True)
    s.add_argument("--to-party", required=True)
    s.add_argument("--ca")
    s.add_argument("--document")
    s.add_argument("--document-reference", default="PYTHON-TD-0001")
    s.add_argument("--supporting-document", action="store_true")
    s.add_argument("--twice", action="store_true")
    args = parser.parse_args()
    if args.command == "keygen":
        keygen(args.directory)
        return 0
    return send(args)


if __name__ == "__main__":
    sys.exit(main())
