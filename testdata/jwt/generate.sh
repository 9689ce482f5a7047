#!/usr/bin/env bash
# Generates the RSA test keys used by veil-gateway's JWT tests (crates/veil-gateway/tests/jwt.rs).
# TEST KEYS ONLY: they are public in this repository and must never verify a real token.
# ES256 keys are generated inside the tests (rcgen); RSA keys are committed because ring, the
# crypto backend in use, cannot generate RSA keys. Re-run from this directory to regenerate.
set -euo pipefail
cd "$(dirname "$0")"
for name in rsa-a rsa-b; do
  openssl genrsa -traditional -out "$name.pem" 2048 2>/dev/null
  modulus=$(openssl rsa -in "$name.pem" -noout -modulus | cut -d= -f2)
  python3 - "$modulus" > "$name.n" <<'PY'
import base64, sys
n = bytes.fromhex(sys.argv[1])
print(base64.urlsafe_b64encode(n).rstrip(b"=").decode())
PY
done
