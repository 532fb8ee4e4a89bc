#!/usr/bin/env python3
"""Verify an exported epsync audit chain and its anchors, from docs/audit.md only.

usage: verify_chain.py CHAIN.jsonl [ANCHORS PUBLIC_KEY.pem]
Prints "ok N events[, K anchors]" and exits 0, or names the first problem and exits 1."""
import base64, hashlib, json, os, subprocess, sys, tempfile

ZERO = "0" * 64

def canonical(cols):
    return b"".join(b"~;" if c is None else b"%d:%s;" % (len(c.encode()), c.encode()) for c in cols)

def event_hash(prev, cols):
    return hashlib.sha256(prev.encode() + canonical(cols)).hexdigest()

def verify_chain(rows):
    prev, heads = ZERO, {}
    for n, row in enumerate(rows, 1):
        cols, stored_prev, stored = row[:14], row[14], row[15]
        if cols[0] != str(n) or stored_prev != prev or event_hash(prev, cols) != stored:
            raise ValueError("chain broken at seq=%d" % n)
        prev = heads[n] = stored
    return heads

def verify_signature(message, sig_b64, pubkey):
    with tempfile.TemporaryDirectory() as d:
        m, s = os.path.join(d, "msg"), os.path.join(d, "sig")
        open(m, "wb").write(message.encode())
        open(s, "wb").write(base64.b64decode(sig_b64, validate=True))
        return subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pubkey,
                               "-rawin", "-in", m, "-sigfile", s], capture_output=True).returncode == 0

def verify_anchors(lines, heads, pubkey):
    for n, line in enumerate(lines, 1):
        message, _, sig = line.rstrip("\n").partition(" sig=")
        f = dict(kv.split("=", 1) for kv in message.split(" ")[1:])
        if not message.startswith("epsync-anchor/1 ") or not verify_signature(message, sig, pubkey):
            raise ValueError("anchor line %d: bad signature" % n)
        if heads.get(int(f["seq"])) != f["hash"]:
            raise ValueError("anchor line %d (seq=%s) no longer matches" % (n, f["seq"]))
    return len(lines)

if __name__ == "__main__":
    try:
        heads = verify_chain([json.loads(l) for l in open(sys.argv[1]) if l.strip()])
        k = verify_anchors([l for l in open(sys.argv[2]) if l.strip()], heads, sys.argv[3]) if len(sys.argv) > 3 else 0
    except ValueError as exc:
        sys.exit(print(exc) or 1)
    print("ok %d events%s" % (len(heads), ", %d anchors" % k if k else ""))
