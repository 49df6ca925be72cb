"""The input policy's rules, as tables of literal cases."""

from __future__ import annotations

import pytest

from shipyard.domain import inputs


@pytest.mark.parametrize(
    ("kind", "value", "ok"),
    [
        ("name", "checkout", True),
        ("name", "checkout-api_2.v1", True),
        ("name", "../../x", False),
        ("name", "' OR 1=1--", False),
        ("name", "a\nb", False),
        ("name", "-leading-dash", False),
        ("name", "x" * 100, True),
        ("name", "x" * 101, False),
        ("version", "1.2.3-rc.1+build.7", True),
        ("version", "1.0.0\n", False),
        ("version", "1.0.0;rm", False),
        ("flag", "checkout.new-flow:v2", True),
        ("flag", "a/b", False),
        ("flag", "a b", False),
        ("filename", "app-1.0.0.tar.gz", True),
        ("filename", "..", False),
        ("filename", "../etc/passwd", False),
        ("filename", 'a".bin', False),
    ],
)
def test_names(kind: str, value: str, ok: bool) -> None:
    """Names, versions, flag names and file names: what each rule admits and refuses."""
    assert (inputs.name_problem(kind, value) is None) is ok


@pytest.mark.parametrize(
    ("value", "bad"),
    [
        ("9223372036854775807", False),
        ("9223372036854775808", True),
        (str(2**70), True),
        ("-9223372036854775807", False),
        ("12abc", False),
        ("1e30", False),
    ],
)
def test_integers_past_64_bits(value: str, bad: bool) -> None:
    """Only integer literals beyond a signed 64-bit column are out of range."""
    assert inputs.out_of_range_integer(value) is bad


@pytest.mark.parametrize(
    ("value", "bad"),
    [("plain", False), ("tab\there", False), ("nul\x00", True), ("cr\rlf\n", True), ("\x7f", True)],
)
def test_control_characters(value: str, bad: bool) -> None:
    """NUL, CR, LF and DEL are refused; a tab is not."""
    assert inputs.control_character(value) is bad


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("application/octet-stream", True),
        ("application/gzip", True),
        ("Application/Zip", True),
        ("text/plain; charset=utf-8", True),
        ("text/html", False),
        ("image/svg+xml", False),
        ("application/xhtml+xml", False),
        ("text/plain\r\nX-Injected: 1", False),
    ],
)
def test_media_types(value: str, ok: bool) -> None:
    """Only media types no browser renders as a page are admitted."""
    assert (inputs.media_type_problem(value) is None) is ok


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("reason", "r" * 2000, True),
        ("reason", "r" * 2001, False),
        ("title", "t" * 501, False),
        ("description", "d" * 10_000, True),
        ("anything", "x" * 100_000, True),
        ("anything", "x\x00", False),
    ],
)
def test_text_fields(field: str, value: str, ok: bool) -> None:
    """Named text fields have their limits; any string refuses a NUL."""
    assert (inputs.text_problem(field, value) is None) is ok


@pytest.mark.parametrize(
    ("address", "allowed", "ok"),
    [
        ("203.0.113.7", (), True),
        ("127.0.0.1", (), True),
        ("10.1.2.3", (), True),
        ("169.254.169.254", (), False),
        ("169.254.10.1", (), False),
        ("fe80::1", (), False),
        ("fd00:ec2::254", (), False),
        ("100.100.100.200", (), False),
        ("0.0.0.0", (), False),
        ("224.0.0.1", (), False),
        ("127.0.0.1", ("10.0.0.0/8",), False),
        ("10.9.9.9", ("10.0.0.0/8",), True),
        ("169.254.169.254", ("169.254.169.254/32",), True),
    ],
)
def test_notification_destinations(address: str, allowed: tuple[str, ...], ok: bool) -> None:
    """Link-local and metadata addresses are refused unless allowed; an allow-list admits only
    its networks."""
    assert (inputs.destination_problem(address, allowed) is None) is ok


@pytest.mark.parametrize(
    ("value", "bad"), [("2147483647", False), ("2147483648", True), ("93167536569308", True)]
)
def test_record_ids_past_32_bits(value: str, bad: bool) -> None:
    """Record ids are 32-bit serials on PostgreSQL: larger ones are out of range."""
    assert inputs.out_of_range_integer(value, inputs.ID_MAX) is bad
