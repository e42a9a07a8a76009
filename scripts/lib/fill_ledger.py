"""Adds N bundle ids to the ledger of the file store STORE, as N imports
would leave it, for the decision benchmarks (scripts/bench-pkcs11-counter.sh,
scripts/bench-ledger-lookup.sh).

    python3 scripts/lib/fill_ledger.py STORE N

A store with the ledger file (hsm/src/ledger.rs): the N ids go first, then
the ids the state binds, one a line, and state.json gets their binding
(count, length, hash chain: h0 = SHA-256("airlock ledger v1"), h_i =
SHA-256(h_(i-1) || the 16 bytes of id_i)). A store written before the
ledger file (state.json with `accepted`): the ids join that sorted list.
"""
import hashlib
import json
import sys

store, n = sys.argv[1], int(sys.argv[2])
path = store + "/state.json"
with open(path) as f:
    state = json.load(f)
extra = sorted({hashlib.sha256(b"%d" % i).hexdigest()[:32] for i in range(n)})
if "accepted" in state:
    state["accepted"] = sorted(set(state["accepted"]) | set(extra))
else:
    bound = state["ledger"]["ids"]
    kept = []
    if bound:
        with open(store + "/ledger") as f:
            kept = f.read().split("\n")[:bound]
    h = hashlib.sha256(b"airlock ledger v1").digest()
    with open(store + "/ledger", "w") as f:
        for i in extra + kept:
            f.write(i + "\n")
            h = hashlib.sha256(h + bytes.fromhex(i)).digest()
    ids = len(extra) + len(kept)
    state["ledger"] = {"ids": ids, "bytes": 33 * ids, "sha256": h.hex()}
with open(path, "w") as f:
    json.dump(state, f, indent=2)
