#!/usr/bin/env python3
"""A receiver for GitHub's secret scanning partner program: GitHub POSTs the
api_keys keys it finds in public repositories, gists and npm packages; this
endpoint checks the request's signature, revokes every real key at once with
api_keys.apikey_report_leaked, and answers which were real.

The protocol (https://docs.github.com/en/code-security/secret-scanning/secret-scanning-partnership-program/secret-scanning-partner-program):

* the request body is a JSON array of {"token", "type", "url", "source"};
* `Github-Public-Key-Identifier` names one of GitHub's secret-scanning
  public keys, and `Github-Public-Key-Signature` is the base64 DER ECDSA
  (NIST P-256, SHA-256) signature of the raw body under it;
* the answer is a JSON array of {"token_raw", "token_type", "label"}, the
  label "true_positive" (a real key: revoked now, or revoked before) or
  "false_positive" (not a key of this database).

Nothing in the body is read before the signature is verified; a request
with a bad or missing signature, or an unknown key identifier, is refused
(401) and revokes nothing. Tokens are never logged.

    KEYS_FILE=github-keys.json python3 receiver.py "dbname=app user=leak_receiver"

KEYS_FILE holds GitHub's public keys as https://api.github.com/meta/public_keys/secret_scanning
serves them ({"public_keys": [{"key_identifier", "key", "is_current"}]});
refresh it from there (it is re-read when it changes), for example hourly:

    curl -fsS -H "Authorization: Bearer $GITHUB_TOKEN" \\
         https://api.github.com/meta/public_keys/secret_scanning > github-keys.json.new \\
      && mv github-keys.json.new github-keys.json

Options (environment): KEYS_FILE (required), HOST (127.0.0.1), PORT (8000;
0 picks a free one, printed at start), SOURCE_PREFIX ('github': the audit
log's source is e.g. 'github:content'), MAX_BODY (bytes, 16 MiB).

The role it connects as needs nothing but EXECUTE on
api_keys.apikey_report_leaked(text[], text, text) (see docs/leaked-keys.md).
Needs psycopg 3 and cryptography (pip install 'psycopg[binary]' cryptography).
"""

import base64
import http.server
import json
import os
import sys
import threading

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

# apikey_report_leaked takes at most this many keys per call.
BATCH = 10_000


def log(message):
    print(message, flush=True)


class PublicKeys:
    """GitHub's public keys by identifier, re-read when the file changes."""

    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.keys = {}
        self.lock = threading.Lock()

    def get(self, identifier):
        with self.lock:
            mtime = os.stat(self.path).st_mtime_ns
            if mtime != self.mtime:
                with open(self.path) as f:
                    document = json.load(f)
                keys = {}
                for k in document.get("public_keys", []):
                    key = serialization.load_pem_public_key(k["key"].encode())
                    if isinstance(key, ec.EllipticCurvePublicKey):
                        keys[k["key_identifier"]] = key
                self.keys, self.mtime = keys, mtime
            return self.keys.get(identifier)


def verified(keys, identifier, signature, body):
    """Whether `signature` (base64 DER ECDSA) of `body` verifies under the key
    named `identifier`."""
    if not identifier or not signature:
        return False
    key = keys.get(identifier)
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), body, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError):
        return False


def matches_of(body):
    """The matches of a verified body, or None when it is not GitHub's format."""
    try:
        matches = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(matches, list):
        return None
    for m in matches:
        if not (isinstance(m, dict) and isinstance(m.get("token"), str) and isinstance(m.get("type", ""), str)
                and isinstance(m.get("url") or "", str) and isinstance(m.get("source") or "", str)):
            return None
    return matches


def report(dsn, prefix, matches):
    """Report every match in one transaction, one call per source and URL
    (at most BATCH keys each); the label of each match, in order."""
    groups = {}
    for i, m in enumerate(matches):
        source = f"{prefix}:{(m.get('source') or 'unknown').lower()}"
        groups.setdefault((source, m.get("url") or ""), []).append(i)
    labels = ["false_positive"] * len(matches)
    with psycopg.connect(dsn) as conn:  # one transaction: all or nothing
        for (source, url), items in groups.items():
            for start in range(0, len(items), BATCH):
                chunk = items[start:start + BATCH]
                rows = conn.execute(
                    "SELECT item, label FROM api_keys.apikey_report_leaked(%s, %s, %s)",
                    ([matches[i]["token"] for i in chunk], source, url or None)).fetchall()
                for item, label in rows:
                    # GitHub's two labels: a real key (revoked now or before), or not.
                    real = label in ("true_positive", "already_revoked")
                    labels[chunk[item - 1]] = "true_positive" if real else "false_positive"
    return labels


def handler_for(dsn, keys, prefix, max_body):
    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self, status, document=None):
            body = json.dumps(document).encode() if document is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                return self.answer(411, {"error": "Content-Length required"})
            if length < 0 or length > max_body:
                return self.answer(413, {"error": "body too large"})
            body = self.rfile.read(length)
            if not verified(keys, self.headers.get("Github-Public-Key-Identifier"),
                            self.headers.get("Github-Public-Key-Signature"), body):
                log("refused a request: missing, unknown or bad signature")
                return self.answer(401, {"error": "signature does not verify"})
            matches = matches_of(body)
            if matches is None:
                log("refused a signed request: not an array of matches")
                return self.answer(400, {"error": "expected a JSON array of {token, type, url, source}"})
            try:
                labels = report(dsn, prefix, matches)
            except psycopg.Error as e:
                log(f"could not report: {e.sqlstate} {e.diag.message_primary}")
                return self.answer(500, {"error": "could not record the report; send it again"})
            real = labels.count("true_positive")
            log(f"reported {len(matches)} matches: {real} real keys, {len(matches) - real} false positives")
            self.answer(200, [{"token_raw": m["token"], "token_type": m.get("type", ""), "label": label}
                              for m, label in zip(matches, labels)])

        def log_message(self, *args):
            pass  # the request line is harmless, but keep the log to what is said above

    return Handler


def main():
    dsn = sys.argv[1] if len(sys.argv) > 1 else ""
    keys_file = os.environ.get("KEYS_FILE")
    if not keys_file:
        print("KEYS_FILE is required", file=sys.stderr)
        return 2
    keys = PublicKeys(keys_file)
    handler = handler_for(dsn, keys, os.environ.get("SOURCE_PREFIX", "github"),
                          int(os.environ.get("MAX_BODY", str(16 << 20))))
    server = http.server.ThreadingHTTPServer(
        (os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8000"))), handler)
    host, port = server.server_address[:2]
    log(f"listening on http://{host}:{port}/")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
