"""examples/secret_scanning/receiver.py end to end: a locally generated
P-256 key pair stands in for GitHub's, a real HTTP request on loopback for
GitHub's report. A signed report revokes the real keys at once and answers
in GitHub's format; a bad signature, an unknown key identifier or a missing
signature is refused and revokes nothing; the receiver runs as a role that
may call apikey_report_leaked and nothing else."""

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from common import ROOT, check, connect, create_key, fresh_database, verify_code

RECEIVER = os.path.join(ROOT, "examples", "secret_scanning", "receiver.py")


def pem(private):
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def sign(private, body):
    return base64.b64encode(private.sign(body, ec.ECDSA(hashes.SHA256()))).decode()


def post(url, body, headers):
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def main():
    github = ec.generate_private_key(ec.SECP256R1())
    retired = ec.generate_private_key(ec.SECP256R1())
    impostor = ec.generate_private_key(ec.SECP256R1())
    keys_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"public_keys": [
        {"key_identifier": "current-key-id", "key": pem(github), "is_current": True},
        {"key_identifier": "retired-key-id", "key": pem(retired), "is_current": False}]}, keys_file)
    keys_file.close()
    with fresh_database("secret_scanning") as db, connect() as su:
        su.execute("DROP ROLE IF EXISTS leak_receiver")
        su.execute("CREATE ROLE leak_receiver LOGIN")
        with connect(db) as admin:
            # As docs/leaked-keys.md says: the receiver's role gets this function alone.
            admin.execute("GRANT EXECUTE ON FUNCTION api_keys.apikey_report_leaked(text[], text, text) "
                          "TO leak_receiver")
            live_id, live = create_key(admin, "acme", "live")
            gone_id, gone = create_key(admin, "acme", "revoked before")
            admin.execute("SELECT api_keys.apikey_revoke(%s)", (gone_id,))
            _, spared = create_key(admin, "acme", "spared by a bad signature")
            legacy = "legacy_" + "Zx9" * 10
            admin.execute("SELECT api_keys.apikey_import('acme', 'imported', sha256(convert_to(%s, 'UTF8')))",
                          (legacy,))
        made_up = "ak_live_" + "a" * 49
        env = dict(os.environ, KEYS_FILE=keys_file.name, PORT="0")
        proc = subprocess.Popen([os.environ.get("PY", sys.executable), RECEIVER, f"dbname={db} user=leak_receiver"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            line = proc.stdout.readline()
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+/)", line)
            check(m is not None, f"the receiver listens on loopback: {line.strip()}")
            url = m.group(1)

            # A bad signature: refused, nothing revoked.
            body = json.dumps([{"token": spared, "type": "api_keys", "url": "https://github.com/o/r/blob/x",
                                "source": "content"}]).encode()
            for what, headers, data in [
                ("signed by another key", {"Github-Public-Key-Identifier": "current-key-id",
                                           "Github-Public-Key-Signature": sign(impostor, body)}, body),
                ("a body changed after signing", {"Github-Public-Key-Identifier": "current-key-id",
                                                  "Github-Public-Key-Signature": sign(github, b"[]")}, body),
                ("an unknown key identifier", {"Github-Public-Key-Identifier": "made-up-id",
                                               "Github-Public-Key-Signature": sign(github, body)}, body),
                ("no signature", {"Github-Public-Key-Identifier": "current-key-id"}, body),
                ("a signature that is not base64", {"Github-Public-Key-Identifier": "current-key-id",
                                                    "Github-Public-Key-Signature": "not base64!"}, body),
            ]:
                status, _ = post(url, data, headers)
                check(status == 401, f"{what}: refused with 401 ({status})")
            with connect(db) as c:
                check(verify_code(c, spared) == "valid", "a refused request revoked nothing")

            # A signed report: the real keys are revoked at once.
            matches = [
                {"token": live, "type": "api_keys_key", "url": "https://github.com/octo/app/blob/abc/.env",
                 "source": "content"},
                {"token": gone, "type": "api_keys_key", "url": "https://github.com/octo/app/blob/abc/.env",
                 "source": "content"},
                {"token": made_up, "type": "api_keys_key", "url": "", "source": "commit"},
                {"token": legacy, "type": "legacy_key", "url": "https://gist.github.com/x", "source": "gist_content"},
            ]
            body = json.dumps(matches).encode()
            status, answer = post(url, body, {"Github-Public-Key-Identifier": "current-key-id",
                                              "Github-Public-Key-Signature": sign(github, body)})
            check(status == 200, f"a signed report is accepted ({status})")
            check(answer == [
                {"token_raw": live, "token_type": "api_keys_key", "label": "true_positive"},
                {"token_raw": gone, "token_type": "api_keys_key", "label": "true_positive"},
                {"token_raw": made_up, "token_type": "api_keys_key", "label": "false_positive"},
                {"token_raw": legacy, "token_type": "legacy_key", "label": "true_positive"},
            ], f"the answer is GitHub's format, real keys true_positive: {answer}")
            with connect(db) as c:
                check(verify_code(c, live) == "revoked", "the live key is revoked")
                check(verify_code(c, legacy) == "revoked", "the imported key is revoked")
                rows = c.execute("SELECT changes FROM api_keys.events WHERE key_id = %s AND action = 'revoked'",
                                 (live_id,)).fetchall()
                check(rows == [({"reason": "leaked", "source": "github:content",
                                 "url": "https://github.com/octo/app/blob/abc/.env"},)],
                      f"the event says why, where and who reported it: {rows}")
                log = c.execute("SELECT string_agg(changes::text, ' ') FROM api_keys.events").fetchone()[0]
                check(live not in log and legacy not in log, "no key in the audit log")

            # The same report again (GitHub retries): the same answer, nothing more recorded.
            status, again = post(url, body, {"Github-Public-Key-Identifier": "retired-key-id",
                                             "Github-Public-Key-Signature": sign(retired, body)})
            check(status == 200 and again == answer, "a report sent again answers the same (a retired key still verifies)")
            with connect(db) as c:
                n = c.execute("SELECT count(*) FROM api_keys.events WHERE key_id = %s AND action = 'revoked'",
                              (live_id,)).fetchone()[0]
                check(n == 1, "and records nothing more")

            # Signed but not GitHub's format: 400, nothing revoked.
            for junk in [b"{}", b"not json", json.dumps([{"token": 42}]).encode()]:
                status, _ = post(url, junk, {"Github-Public-Key-Identifier": "current-key-id",
                                             "Github-Public-Key-Signature": sign(github, junk)})
                check(status == 400, f"a signed body that is not an array of matches: 400 ({junk[:20]!r})")
            with connect(db) as c:
                check(verify_code(c, spared) == "valid", "still nothing revoked by refused requests")
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=10)
            print(out)
            check(all(k not in out for k in (live, gone, spared, legacy)), "the receiver logs no token")
            with connect(db) as admin:
                admin.execute("REVOKE EXECUTE ON FUNCTION api_keys.apikey_report_leaked(text[], text, text) "
                              "FROM leak_receiver")
    with connect() as su:
        su.execute("DROP ROLE IF EXISTS leak_receiver")
    os.unlink(keys_file.name)


if __name__ == "__main__":
    main()
