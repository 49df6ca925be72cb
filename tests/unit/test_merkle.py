"""RFC 6962 / RFC 9162 Merkle tree: published test vectors and proof properties."""

from __future__ import annotations

import pytest

from shipyard.domain import merkle

H = bytes.fromhex
# The Certificate Transparency reference data (RFC 6962 test vectors).
ENTRIES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
LEAVES = [merkle.leaf_hash(H(e)) for e in ENTRIES]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (0, 1, []),
]
CONSISTENCY = [
    (
        2,
        8,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (1, 1, []),
]
MANY = [merkle.leaf_hash(bytes([i, i * 7 % 256])) for i in range(40)]


@pytest.mark.parametrize("size", range(9))
def test_root_matches_published_vector(size: int) -> None:
    """The tree head over the first N reference entries equals the published root."""
    assert merkle.root(LEAVES[:size]).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proof_matches_published_vector(index: int, size: int, proof: list[str]) -> None:
    """Inclusion proofs equal the published audit paths and verify against the published root."""
    got = merkle.inclusion_proof(LEAVES[:size], index)
    assert [p.hex() for p in got] == proof
    assert merkle.verify_inclusion(LEAVES[index], index, size, got, H(ROOTS[size]))


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_proof_matches_published_vector(
    first: int, second: int, proof: list[str]
) -> None:
    """Consistency proofs equal the published ones and verify between the published roots."""
    got = merkle.consistency_proof(LEAVES[:second], first)
    assert [p.hex() for p in got] == proof
    assert merkle.verify_consistency(first, second, H(ROOTS[first]), H(ROOTS[second]), got)


def test_every_inclusion_proof_verifies_and_mangled_ones_fail() -> None:
    """Every leaf of every tree up to 40 leaves proves; a wrong index, leaf or path does not."""
    for n in range(1, len(MANY) + 1):
        tree = MANY[:n]
        r = merkle.root(tree)
        for i in range(n):
            proof = merkle.inclusion_proof(tree, i)
            assert merkle.verify_inclusion(tree[i], i, n, proof, r)
            if n > 1:
                assert not merkle.verify_inclusion(tree[i], (i + 1) % n, n, proof, r)
                assert not merkle.verify_inclusion(tree[(i + 1) % n], i, n, proof, r)
                assert not merkle.verify_inclusion(tree[i], i, n, proof[:-1], r)
                assert not merkle.verify_inclusion(tree[i], i, n, [*proof, b"\xab" * 32], r)


def test_every_consistency_proof_verifies_and_mangled_ones_fail() -> None:
    """Every pair of sizes up to 40 proves consistent; a flipped byte or wrong root does not."""
    roots = [merkle.root(MANY[:n]) for n in range(len(MANY) + 1)]
    for second in range(len(MANY) + 1):
        for first in range(second + 1):
            proof = merkle.consistency_proof(MANY[:second], first)
            assert merkle.verify_consistency(first, second, roots[first], roots[second], proof)
            if proof:
                bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
                assert not merkle.verify_consistency(
                    first, second, roots[first], roots[second], bad
                )
                assert not merkle.verify_consistency(first, second, roots[first], roots[0], proof)


@pytest.mark.parametrize(
    ("index", "size"),
    [(-1, 4), (4, 4), (0, 0)],
)
def test_inclusion_outside_tree_is_rejected(index: int, size: int) -> None:
    """A leaf index outside the tree neither proves nor verifies."""
    with pytest.raises(ValueError):
        merkle.inclusion_proof(MANY[:size], index)
    assert not merkle.verify_inclusion(MANY[0], index, size, [], merkle.root(MANY[:size]))


def test_frontier_root_matches_recursive_root_at_every_size() -> None:
    """The incremental tree head equals the recursive MTH after each append."""
    f = merkle.Frontier()
    for n, leaf in enumerate(MANY, start=1):
        f.append(leaf)
        assert f.root() == merkle._subtree_root(MANY, 0, n)
        assert len(f.nodes) == n.bit_count()
