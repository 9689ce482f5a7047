#!/usr/bin/env python3
"""Independent verifier for Veil audit log and export files (format veil-audit/1).

A second implementation, written from docs/audit.md and RFC 9162 without looking at the
Rust code paths it checks: leaf and node hashes, the prev_leaf chain, tree roots against
every checkpoint, consistency proofs (RFC 9162 2.1.4.2) and inclusion proofs (2.1.3.2).
Ed25519 signatures are checked only when the `cryptography` package is installed (stdlib
has no Ed25519); the Rust verifier always checks them.

Usage: verify_export.py FILE        exit 0 when intact, 1 when not, 2 on bad input
Standard library only (Python >= 3.8).
"""
import base64
import hashlib
import json
import sys


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


class Frontier:
    """Roots of the maximal complete subtrees, largest first."""

    def __init__(self, size=0, hashes=None):
        self.size = size
        self.hashes = list(hashes or [])
        assert len(self.hashes) == bin(size).count("1")

    def push(self, leaf):
        h, m = leaf, self.size
        while m & 1:
            h = node_hash(self.hashes.pop(), h)
            m >>= 1
        self.hashes.append(h)
        self.size += 1

    def root(self):
        if not self.hashes:
            return EMPTY_ROOT
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = node_hash(h, r)
        return r


def verify_inclusion(leaf, index, size, proof, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    if first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = ([first_root] if first & (first - 1) == 0 else []) + list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def parse_checkpoint(text):
    body, _, _sigs = text.partition("\n\n")
    origin, size, root, time = body.split("\n")
    assert time.startswith("time ")
    return origin, int(size), base64.b64decode(root, validate=True), body + "\n", _sigs


def check_signature(vkey, body, sigs):
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return None
    name, _keyid, key_b64 = vkey.split("+", 2)
    raw = base64.b64decode(key_b64)
    line = sigs.rstrip("\n")
    assert line.startswith("\u2014 " + name + " ")
    sig = base64.b64decode(line.split(" ")[2])[4:]
    try:
        Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig, body.encode())
        return True
    except Exception:  # noqa: BLE001 - any failure is a bad signature
        return False


def h(s):
    if len(s) != 64 or s != s.lower():
        raise ValueError("bad hash")
    return bytes.fromhex(s)


def verify(path):
    problems = []
    roots = {}
    signatures = []
    with open(path, encoding="utf-8") as f:
        lines = [json.loads(l) for l in f.read().split("\n") if l]
    header = lines[0]
    vkey = header["verifier_key"]
    selection = header["type"] == "selection"
    if not selection:
        fr = Frontier(header["start"], [h(x) for x in header["frontier"]])
        prev = h(header["prev_leaf"])
    last = None
    records = 0
    for n, line in enumerate(lines[1:], start=2):
        t = line["type"]
        if t == "record":
            data = base64.b64decode(line["record"], validate=True)
            leaf = h(line["leaf"])
            if leaf_hash(data) != leaf:
                problems.append(f"line {n}: record {line['seq']} does not match its leaf hash")
                break
            seq = int.from_bytes(data[2:10], "big")
            if seq != line["seq"]:
                problems.append(f"line {n}: record says seq {seq}, row says {line['seq']}")
                break
            if selection:
                last = (seq, leaf)
                continue
            if seq != fr.size:
                problems.append(f"line {n}: seq {seq}, expected {fr.size}")
                break
            if data[18:50] != prev:
                problems.append(f"line {n}: record {seq} does not chain to the previous one")
                break
            fr.push(leaf)
            prev = leaf
            records += 1
        elif t == "checkpoint":
            _origin, size, root, body, sigs = parse_checkpoint(line["text"])
            signatures.append(check_signature(vkey, body, sigs))
            roots[size] = root
            if not selection and size == fr.size and fr.root() != root:
                problems.append(f"line {n}: root mismatch at size {size}")
        elif t == "consistency":
            a, b = line["from"], line["to"]
            if not verify_consistency(a, b, roots[a], roots[b], [h(x) for x in line["proof"]]):
                problems.append(f"line {n}: consistency proof {a}->{b} fails")
        elif t == "inclusion":
            seq, leaf = last
            if seq != line["seq"] or not verify_inclusion(
                leaf, seq, line["size"], [h(x) for x in line["proof"]], roots[line["size"]]
            ):
                problems.append(f"line {n}: inclusion proof for record {seq} fails")
            records += 1
        else:
            problems.append(f"line {n}: unexpected line type {t}")
    if not selection and roots and max(roots) > fr.size:
        problems.append(f"a checkpoint covers {max(roots)} records, only {fr.size} present")
    if any(s is False for s in signatures):
        problems.append("a checkpoint signature does not verify")
    sig_note = "signatures not checked (no `cryptography`)" if None in signatures else "signatures ok"
    if problems:
        for p in problems:
            print(f"verify_export.py: {path}: {p}", file=sys.stderr)
        return 1
    root = "" if selection else f", root {fr.root().hex()}"
    print(f"ok: {records} records, {len(roots)} checkpoints{root}; {sig_note}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(verify(sys.argv[1]))
    except (ValueError, KeyError, TypeError, AssertionError, IndexError) as e:
        print(f"verify_export.py: {sys.argv[1]}: malformed: {e!r}", file=sys.stderr)
        sys.exit(1)
