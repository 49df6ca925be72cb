"""Publishers, one module per registry protocol: ``pypi`` (the legacy upload API twine
uses), ``npm`` (the registry's package-document PUT `npm publish` sends), ``oci`` (the OCI
distribution spec's blob and manifest uploads)."""

from __future__ import annotations

from typing import Any

from shipyard.ports.publish import Credentials, Publisher


def publisher(target: Any, credentials: Credentials) -> Publisher:
    """The publisher for a ``release.publish`` entry (spec/models.py ``PublishTarget``)."""
    if target.type == "pypi":
        from shipyard.adapters.publish.pypi import PypiPublisher

        return PypiPublisher(target, credentials)
    if target.type == "npm":
        from shipyard.adapters.publish.npm import NpmPublisher

        return NpmPublisher(target, credentials)
    from shipyard.adapters.publish.oci import OciPublisher

    return OciPublisher(target, credentials)
