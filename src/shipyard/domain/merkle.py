"""Merkle tree hashing and proofs as RFC 9162 (Certificate Transparency v2) defines them.

Leaf hash ``SHA-256(0x00 || data)``, node hash ``SHA-256(0x01 || left || right)``, and the
tree over ``n`` leaves splits at the largest power of two smaller than ``n`` (section 2.1.1).
The verifiers follow the algorithms of sections 2.1.3.2 and 2.1.4.2 step by step, so a proof
made here verifies with any RFC 9162 verifier and the other way round.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256

HASH_SIZE = 32
EMPTY_ROOT = sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves, computed bottom-up without recursion."""
    if not leaves:
        return EMPTY_ROOT
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


def _subtree_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    n = end - start
    if n == 1:
        return leaves[start]
    k = _split(n)
    return node_hash(_subtree_root(leaves, start, start + k), _subtree_root(leaves, start + k, end))


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    """PATH(m, D[0:n]) of RFC 9162 section 2.1.3.1."""
    n = len(leaves) if size is None else size
    if not 0 <= index < n <= len(leaves):
        raise ValueError(f"leaf index {index} is outside a tree of size {n}")
    proof: list[bytes] = []
    start, end, m = 0, n, index
    # Walk down from the root, collecting the sibling subtree at each level; the RFC lists
    # them bottom-up, so reverse at the end.
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            proof.append(_subtree_root(leaves, start + k, end))
            end = start + k
        else:
            proof.append(_subtree_root(leaves, start, start + k))
            start, m = start + k, m - k
    proof.reverse()
    return proof


def consistency_proof(
    leaves: Sequence[bytes], first: int, second: int | None = None
) -> list[bytes]:
    """PROOF(m, D[0:n]) of RFC 9162 section 2.1.4.1."""
    n = len(leaves) if second is None else second
    if not 0 <= first <= n <= len(leaves):
        raise ValueError(f"cannot prove size {first} consistent with size {n}")
    if first in (0, n):
        return []
    return _subproof(leaves, first, 0, n, True)


def _subproof(leaves: Sequence[bytes], m: int, start: int, end: int, complete: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if complete else [_subtree_root(leaves, start, end)]
    k = _split(n)
    if m <= k:
        return [
            *_subproof(leaves, m, start, start + k, complete),
            _subtree_root(leaves, start + k, end),
        ]
    return [
        *_subproof(leaves, m - k, start + k, end, False),
        _subtree_root(leaves, start, start + k),
    ]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2, verbatim."""
    if index < 0 or index >= size or len(leaf) != HASH_SIZE or len(expected_root) != HASH_SIZE:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if len(p) != HASH_SIZE or sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2, verbatim, plus the two trivial cases it leaves to callers."""
    if len(first_root) != HASH_SIZE or len(second_root) != HASH_SIZE:
        return False
    if first < 0 or second < first:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof or any(len(p) != HASH_SIZE for p in proof):
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, first_root)
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
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


class Frontier:
    """The right edge of a growing tree: one perfect-subtree root per set bit of ``size``.

    Appending costs amortised O(1) hashes and the root O(log n), which is how the log keeps
    its tree head current without rereading old leaves.
    """

    __slots__ = ("nodes", "size")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != size.bit_count():
            raise ValueError("a frontier holds one node per set bit of its size")
        self.size = size
        self.nodes = list(nodes)  # largest subtree first

    def append(self, leaf: bytes) -> None:
        node = leaf
        size = self.size
        nodes = self.nodes
        while size & 1:
            node = sha256(b"\x01" + nodes.pop() + node).digest()
            size >>= 1
        nodes.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        it = reversed(self.nodes)
        r = next(it)
        for node in it:
            r = node_hash(node, r)
        return r

    def copy(self) -> Frontier:
        return Frontier(self.size, self.nodes)
