"""RFC 9162 (Certificate Transparency v2) Merkle trees over the audit log's records.

The leaves are the records' raw lines without their line end; leaf hashes are
SHA-256(0x00 || line) and interior nodes SHA-256(0x01 || left || right), so the
tree hash, inclusion proofs and consistency proofs are those of RFC 9162 §2.1 and
any implementation of it can check them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


@dataclass
class Frontier:
    """The compact range [0, size): the roots of the perfect subtrees the leaves so far
    form, largest first. Appending a leaf is amortised O(1) and the root O(log n), so a
    checkpoint never rehashes the leaves it has already seen."""

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash."""
        h = leaf
        n = self.size
        while n & 1:  # each trailing one bit of the old size is a subtree of equal height
            h = node_hash(self.hashes.pop(), h)
            n >>= 1
        self.hashes.append(h)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """The RFC 9162 tree hash of the leaves so far."""
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            acc = node_hash(h, acc)
        return acc

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.hashes))

    @classmethod
    def restore(cls, size: int, hashes: Sequence[bytes]) -> Frontier:
        """A frontier from its stored form; ValueError when the hashes cannot be one of `size`."""
        if len(hashes) != bin(size).count("1") or any(len(h) != 32 for h in hashes):
            raise ValueError(f"not a frontier of {size} leaves")
        return cls(size, list(hashes))


def tree_hash(leaves: Sequence[bytes]) -> bytes:
    """The tree hash of a sequence of leaf hashes (linear time)."""
    f = Frontier()
    f.extend(leaves)
    return f.root()


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `leaves` (RFC 9162 §2.1.3.1)."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is not in a tree of {n}")
    path: list[bytes] = []
    lo, hi = 0, n
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(tree_hash(leaves[lo + k : hi]))
            hi = lo + k
        else:
            path.append(tree_hash(leaves[lo : lo + k]))
            lo = lo + k
    path.reverse()  # the path runs from the leaf up
    return path


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """The root that `path` proves `leaf` at `index` into (RFC 9162 §2.1.3.2);
    ValueError when the path has the wrong shape for a tree of `size`."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ValueError("inclusion path too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("inclusion path too short")
    return r


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The proof that the tree of the first `old_size` leaves is a prefix of the tree of
    all `leaves` (RFC 9162 §2.1.4.1)."""
    n = len(leaves)
    if not 0 < old_size <= n:
        raise ValueError(f"no consistency proof from {old_size} to {n}")

    def subproof(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        size = hi - lo
        if m == size:
            return [] if complete else [tree_hash(leaves[lo:hi])]
        k = _split(size)
        if m <= k:
            return [*subproof(m, lo, lo + k, complete), tree_hash(leaves[lo + k : hi])]
        return [*subproof(m - k, lo + k, hi, False), tree_hash(leaves[lo : lo + k])]

    return subproof(old_size, 0, n, True)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows the tree (old_size, old_root) is a prefix of (new_size, new_root)
    (RFC 9162 §2.1.4.2)."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
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
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
