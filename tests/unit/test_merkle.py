"""The Merkle tree against RFC 9162's recursive definitions, written out here independently."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from prcast import merkle


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1, literally: MTH({}) = SHA-256(), MTH({d}) = leaf, else split at k."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def leaves_of(n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"record {i}".encode()) for i in range(n)]


@given(st.integers(min_value=0, max_value=40))
def test_frontier_root_is_the_rfc_tree_hash(n: int) -> None:
    f = merkle.Frontier()
    for i, leaf in enumerate(leaves_of(n)):
        f.append(leaf)
        assert f.root() == mth(leaves_of(i + 1))
    assert f.root() == mth(leaves_of(n))
    assert merkle.Frontier.restore(f.size, f.hashes).root() == f.root()


@given(st.integers(min_value=1, max_value=70), st.data())
def test_inclusion_proofs_verify_and_fail_for_another_leaf(n: int, data: st.DataObject) -> None:
    leaves = leaves_of(n)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    path = merkle.inclusion_proof(i, leaves)
    assert merkle.root_from_inclusion(i, n, leaves[i], path) == mth(leaves)
    other = merkle.leaf_hash(b"forged")
    assert merkle.root_from_inclusion(i, n, other, path) != mth(leaves)


@given(st.integers(min_value=1, max_value=70), st.data())
def test_consistency_proofs_verify_and_reject_a_changed_prefix(n: int, data: st.DataObject) -> None:
    leaves = leaves_of(n)
    m = data.draw(st.integers(min_value=1, max_value=n))
    proof = merkle.consistency_proof(m, leaves)
    assert merkle.verify_consistency(m, n, mth(leaves[:m]), mth(leaves), proof)
    changed = [merkle.leaf_hash(b"rewritten"), *leaves[1:]]
    assert not merkle.verify_consistency(m, n, mth(changed[:m]), mth(leaves), proof)
