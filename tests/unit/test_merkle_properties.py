"""The audit log's Merkle tree on random leaves: every inclusion and consistency proof it makes
verifies, and a claim with a changed leaf, proof node, root, index or size does not."""

from __future__ import annotations

from hashlib import sha256

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shipyard.domain import merkle

# Logs of 1 to 80 entries, the count drawn first so that long logs are as common as short.
_data = st.integers(1, 80).flatmap(
    lambda n: st.lists(st.binary(max_size=12), min_size=n, max_size=n)
)
_picks = st.tuples(st.integers(min_value=0), st.integers(min_value=0))


def _log(data: list[bytes]) -> list[bytes]:
    """Leaf hashes of distinct entries: like the audit log's events, each entry carries its
    sequence number."""
    return [merkle.leaf_hash(seq.to_bytes(4, "big") + d) for seq, d in enumerate(data)]


@st.composite
def _tree_and_sizes(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    """Leaf hashes of a random log, and sizes ``m <= n <= len(leaves)``."""
    leaves = _log(draw(_data))
    n = draw(st.integers(1, len(leaves)))
    m = draw(st.integers(0, n))
    return leaves, m, n


def _mth(hashes: list[bytes]) -> bytes:
    """MTH of RFC 9162 section 2.1.1, written out recursively as the RFC states it."""
    if not hashes:
        return sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return sha256(b"\x01" + _mth(hashes[:k]) + _mth(hashes[k:])).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n``, by counting up."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


def _path_sides(index: int, size: int) -> list[bool]:
    """Where each node of PATH(index, D[0:size]) sits, bottom-up: True when it is the right
    sibling (RFC 9162 section 2.1.3.1, followed recursively)."""
    if size == 1:
        return []
    k = _split(size)
    if index < k:
        return [*_path_sides(index, k), True]
    return [*_path_sides(index - k, size - k), False]


def _reference_inclusion(
    leaf: bytes, index: int, size: int, proof: list[bytes], expected: bytes
) -> bool:
    """Does ``proof`` rebuild ``expected`` from ``leaf`` along the path the tree of ``size``
    leaves has for ``index``?"""
    if not 0 <= index < size:
        return False
    sides = _path_sides(index, size)
    if len(proof) != len(sides):
        return False
    r = leaf
    for node, right in zip(proof, sides, strict=True):
        r = _node(r, node) if right else _node(node, r)
    return r == expected


def _rebuild(
    m: int, n: int, complete: bool, proof: list[bytes], first_root: bytes
) -> tuple[bytes, bytes] | None:
    """The old and new subtree hashes that SUBPROOF(m, D[0:n], complete) of RFC 9162 section
    2.1.4.1 claims, rebuilt from ``proof``; None when the proof has the wrong length."""
    if m == n:
        if complete:
            return (first_root, first_root) if not proof else None
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    k = _split(n)
    if m <= k:
        inner = _rebuild(m, k, complete, proof[:-1], first_root)
        return None if inner is None else (inner[0], _node(inner[1], proof[-1]))
    inner = _rebuild(m - k, n - k, False, proof[:-1], first_root)
    if inner is None:
        return None
    return _node(proof[-1], inner[0]), _node(proof[-1], inner[1])


def _reference_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> bool:
    """Does ``proof`` rebuild both roots along the shape of PROOF(first, D[0:second])? Equal
    sizes and size 0 need an empty proof, as the module documents."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == merkle.EMPTY_ROOT
    rebuilt = _rebuild(first, second, True, proof, first_root)
    return rebuilt == (first_root, second_root)


def _flip(value: bytes, bit: int) -> bytes:
    """``value`` with one bit changed."""
    i = bit % (len(value) * 8)
    return value[: i // 8] + bytes([value[i // 8] ^ (1 << i % 8)]) + value[i // 8 + 1 :]


@settings(max_examples=60, deadline=None)
@given(data=st.lists(st.binary(max_size=12), max_size=150))
def test_root_is_the_rfc_tree_hash(data: list[bytes]) -> None:
    """Leaf hashes and the tree head (built incrementally) equal the RFC's definitions, for
    any number of leaves including none."""
    hashes = [sha256(b"\x00" + d).digest() for d in data]
    assert [merkle.leaf_hash(d) for d in data] == hashes
    assert merkle.root(hashes) == _mth(hashes)


@settings(max_examples=60, deadline=None)
@given(tree=_tree_and_sizes(), pick=st.integers(min_value=0))
def test_every_inclusion_proof_verifies(tree: tuple[list[bytes], int, int], pick: int) -> None:
    """An inclusion proof for any leaf of the tree of the first ``n`` leaves verifies against
    that tree's root, also when the log has grown past ``n``."""
    leaves, _, n = tree
    index = pick % n
    proof = merkle.inclusion_proof(leaves, index, n)
    assert merkle.verify_inclusion(leaves[index], index, n, proof, merkle.root(leaves[:n]))


@settings(max_examples=60, deadline=None)
@given(tree=_tree_and_sizes(), pick=st.integers(min_value=0), bit=st.integers(min_value=0))
def test_tampered_inclusion_claims_fail(
    tree: tuple[list[bytes], int, int], pick: int, bit: int
) -> None:
    """A changed leaf, a changed proof node, a node dropped or a node added makes an inclusion
    proof fail against the true root."""
    leaves, _, n = tree
    index = pick % n
    proof = merkle.inclusion_proof(leaves, index, n)
    r = merkle.root(leaves[:n])
    assert not merkle.verify_inclusion(_flip(leaves[index], bit), index, n, proof, r)
    assert not merkle.verify_inclusion(leaves[index], index, n, proof, _flip(r, bit))
    assert not merkle.verify_inclusion(leaves[index], index, n, [*proof, r], r)
    if proof:
        node = pick % len(proof)
        bad = [*proof[:node], _flip(proof[node], bit), *proof[node + 1 :]]
        assert not merkle.verify_inclusion(leaves[index], index, n, bad, r)
        assert not merkle.verify_inclusion(leaves[index], index, n, proof[:-1], r)


@settings(max_examples=60, deadline=None)
@given(tree=_tree_and_sizes(), claim=_picks)
def test_an_inclusion_proof_holds_only_for_its_own_index_and_size(
    tree: tuple[list[bytes], int, int], claim: tuple[int, int]
) -> None:
    """A proof made for leaf ``i`` of the tree of size ``n``, offered for leaf ``j`` of the
    tree of size ``s`` (with that tree's true root), verifies exactly when ``j``'s own proof
    in that tree is the same list of hashes: never, in a log of distinct entries."""
    leaves, m, n = tree
    index = m % n
    s = 1 + claim[1] % len(leaves)
    j = claim[0] % s
    proof = merkle.inclusion_proof(leaves, index, n)
    held = merkle.verify_inclusion(leaves[j], j, s, proof, merkle.root(leaves[:s]))
    assert held == (proof == merkle.inclusion_proof(leaves, j, s))
    assert held == ((j, s) == (index, n))


@settings(max_examples=60, deadline=None)
@given(tree=_tree_and_sizes())
def test_every_consistency_proof_verifies(tree: tuple[list[bytes], int, int]) -> None:
    """The tree of the first ``m`` leaves is proved a prefix of the tree of the first ``n``,
    for every ``0 <= m <= n``, also when the log has grown past ``n``."""
    leaves, m, n = tree
    proof = merkle.consistency_proof(leaves, m, n)
    old, new = merkle.root(leaves[:m]), merkle.root(leaves[:n])
    assert merkle.verify_consistency(m, n, old, new, proof)


@settings(max_examples=60, deadline=None)
@given(tree=_tree_and_sizes(), pick=st.integers(min_value=0), bit=st.integers(min_value=0))
def test_tampered_consistency_claims_fail(
    tree: tuple[list[bytes], int, int], pick: int, bit: int
) -> None:
    """A changed proof node, a node dropped or added, or a changed old or new root makes a
    consistency proof fail."""
    leaves, m, n = tree
    assume(0 < m < n)
    proof = merkle.consistency_proof(leaves, m, n)
    old, new = merkle.root(leaves[:m]), merkle.root(leaves[:n])
    node = pick % len(proof)
    bad = [*proof[:node], _flip(proof[node], bit), *proof[node + 1 :]]
    assert not merkle.verify_consistency(m, n, old, new, bad)
    assert not merkle.verify_consistency(m, n, old, new, proof[:-1])
    assert not merkle.verify_consistency(m, n, old, new, [*proof, new])
    assert not merkle.verify_consistency(m, n, _flip(old, bit), new, proof)
    assert not merkle.verify_consistency(m, n, old, _flip(new, bit), proof)


@settings(max_examples=60, deadline=None)
@given(tree=_tree_and_sizes(), pick=st.integers(min_value=0))
def test_a_log_that_rewrote_history_is_not_consistent(
    tree: tuple[list[bytes], int, int], pick: int
) -> None:
    """After any one of the first ``m`` leaves is changed, no proof the rewritten log can make
    connects the old tree head to its new one."""
    leaves, m, n = tree
    assume(m > 0)
    rewritten = list(leaves)
    k = pick % m
    rewritten[k] = merkle.leaf_hash(b"rewritten " + leaves[k])
    proof = merkle.consistency_proof(rewritten, m, n)
    old = merkle.root(leaves[:m])
    assert not merkle.verify_consistency(m, n, old, merkle.root(rewritten[:n]), proof)


@settings(max_examples=60, deadline=None)
@given(tree=_tree_and_sizes(), claim=_picks)
def test_a_consistency_proof_holds_only_for_its_own_sizes(
    tree: tuple[list[bytes], int, int], claim: tuple[int, int]
) -> None:
    """A proof made for sizes ``(m, n)``, offered for sizes ``(a, b)`` with their true roots,
    verifies exactly when the proof for ``(a, b)`` is the same list of hashes; in a log of
    distinct entries a non-empty proof therefore holds for no other pair of sizes."""
    leaves, m, n = tree
    b = claim[1] % (len(leaves) + 1)
    a = claim[0] % (b + 1)
    proof = merkle.consistency_proof(leaves, m, n)
    old, new = merkle.root(leaves[:a]), merkle.root(leaves[:b])
    held = merkle.verify_consistency(a, b, old, new, proof)
    assert held == (proof == merkle.consistency_proof(leaves, a, b))
    if proof:
        assert held == ((a, b) == (m, n))


@settings(max_examples=60, deadline=None)
@given(data=_data, pick=st.integers(min_value=0), other=_picks, head=st.integers(min_value=0))
def test_inclusion_verifier_agrees_with_the_rfc_definition(
    data: list[bytes], pick: int, other: tuple[int, int], head: int
) -> None:
    """Each proof for leaf ``i`` of the tree of size ``n``, offered for its own index and
    size, for another pair, for the indexes one bit away from ``i`` (inside the tree or past
    its end), and for the pairs that agree with ``(i, n - 1)`` in their low bits (which the
    verifier's walk reads the same way), with the proof's leaf or the claimed one and the root
    of size ``n``, of the claimed size or of another tree of the log: the verifier answers as
    rebuilding the root along the RFC's audit path for the claimed index and size does."""
    leaves = _log(data)
    heads = [merkle.root(leaves[:k]) for k in range(len(leaves) + 1)]
    n = 1 + pick % len(leaves)
    other_size = other[1] % (len(leaves) + 1)
    for i in range(n):
        proof = merkle.inclusion_proof(leaves, i, n)
        claims = [(i, n), (other[0] % (len(leaves) + 1), other_size)]
        claims += [(i ^ 2**k, n) for k in range(n.bit_length() + 1)]
        claims += [(i % 2**k, (n - 1) % 2**k + 1) for k in range(n.bit_length())]
        for j, size in claims:
            for leaf in dict.fromkeys([leaves[i], leaves[j % len(leaves)]]):
                for r in dict.fromkeys([heads[n], heads[size], heads[head % len(heads)]]):
                    expected = _reference_inclusion(leaf, j, size, proof, r)
                    assert merkle.verify_inclusion(leaf, j, size, proof, r) == expected, (i, n)


@settings(max_examples=60, deadline=None)
@given(data=_data, pick=st.integers(min_value=0), other=_picks, roots=_picks)
def test_consistency_verifier_agrees_with_the_rfc_definition(
    data: list[bytes], pick: int, other: tuple[int, int], roots: tuple[int, int]
) -> None:
    """Each proof from the tree of size ``m`` to the tree of size ``n``, offered for its own
    sizes, for another pair, and for the pairs that agree with ``(m, n)`` in their low bits
    (which the verifier's walk over ``size - 1`` reads the same way), each with the roots of
    ``(m, n)``, of the claimed sizes or of two other trees of the log: the verifier answers as
    rebuilding both roots along the shape of the RFC's proof for the claimed sizes does."""
    leaves = _log(data)
    heads = [merkle.root(leaves[:k]) for k in range(len(leaves) + 1)]
    n = 1 + pick % len(leaves)
    b = other[1] % (len(leaves) + 1)
    x, y = (r % (len(leaves) + 1) for r in roots)
    for m in range(n + 1):
        proof = merkle.consistency_proof(leaves, m, n)
        claims = [(m, n), (other[0] % (b + 1), b)]
        claims += [((m - 1) % 2**k + 1, (n - 1) % 2**k + 1) for k in range(n.bit_length())]
        for a, c in claims:
            for old_size, new_size in [(m, n), (a, c), (x, y)]:
                old, new = heads[old_size], heads[new_size]
                expected = _reference_consistency(a, c, old, new, proof)
                assert merkle.verify_consistency(a, c, old, new, proof) == expected, (m, n, a, c)
