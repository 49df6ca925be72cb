"""`shipyard artifacts`: publish, list, show, download and verify immutable artifacts, and
print their attestation and SBOM."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from shipyard.cli.common import JSON, console, emit, open_store, settings

app = typer.Typer(
    help="Immutable, versioned artifacts with signed provenance and SBOM.",
    add_completion=False,
    no_args_is_help=True,
)
REF = typer.Argument(..., help="NAME@VERSION, e.g. checkout@1.4.0.")


def _project() -> str:
    from shipyard.cli.release import project_context

    return project_context()[0]


def _server() -> Any:
    s = settings()
    return s if s.server_url else None


def _remote(method: str, path: str, **kw: Any) -> Any:
    from shipyard.cli.client import call

    s = settings()
    params = {"project": _project(), **kw.pop("params", {})}
    return call(s.server_url, s.token, method, "/api/v1/artifacts" + path, params=params, **kw)


def _chunks(path: Path) -> Any:
    from shipyard.adapters.blobs.base import file_chunks

    return file_chunks(path)


def _path(ref: str) -> str:
    from shipyard.services.releases.artifacts import parse_ref

    name, version = parse_ref(ref)
    return f"/{name}/{version}"


@app.command()
def publish(
    name: str = typer.Argument(..., help="The artifact's name."),
    file: Path = typer.Argument(..., help="The file to publish."),
    version: str = typer.Option(..., "--version", help="The version it is published as."),
    commit: str | None = typer.Option(None, help="The commit it was built from."),
    run_id: str | None = typer.Option(None, "--run-id", help="The pipeline run that built it."),
    job: str = typer.Option("manual", help="The pipeline job that built it."),
    media_type: str | None = typer.Option(None, "--media-type", help="Default: from the name."),
    sbom_python: Path | None = typer.Option(
        None,
        "--sbom-python",
        help="For a wheel: the interpreter whose environment its dependencies are resolved "
        "against (default: the project's .venv, else python3 on PATH).",
    ),
    json_: bool = JSON,
) -> None:
    """Store a file as NAME@VERSION with provenance and SBOM; the same bytes again is a no-op."""
    from shipyard.domain.provenance import BuildInfo
    from shipyard.identity import actor
    from shipyard.services.releases import artifacts as svc

    if _server():
        if sbom_python is not None:
            from shipyard.errors import InputError

            raise InputError(
                "--sbom-python names a local interpreter, but the server builds the SBOM",
                "publish without SHIPYARD_SERVER, or without --sbom-python",
                code="sbom-python-remote",
            )
        svc.check_name_version(name, version)
        if not file.is_file():
            from shipyard.services.releases.release_build import ArtifactFileMissing

            raise ArtifactFileMissing(f"{file} is not a file")
        params = {"commit": commit, "run_id": run_id, "job": job, "filename": file.name}
        if media_type:
            params["media_type"] = media_type
        data = _remote(
            "PUT",
            f"/{name}/{version}",
            params={k: v for k, v in params.items() if v is not None},
            content=_chunks(file),  # streamed, never read whole
            headers={"Content-Length": str(file.stat().st_size)},
        )
    else:
        project = _project()
        build = BuildInfo(pipeline=project, job=job, commit=commit, run_id=run_id)
        data = svc.publish(
            open_store(),
            project,
            name,
            file,
            version,
            build,
            media_type=media_type,
            actor=actor(),
            sbom_python=sbom_python,
        )
    a = data["artifact"]
    emit(
        data,
        json_,
        lambda: console().print(
            f"{'published' if data['published'] else 'already published'} "
            f"{a['name']}@{a['version']} {a['digest']} ({a['size']} bytes)"
        ),
    )


@app.command("list")
def list_(
    name: str | None = typer.Option(None, help="Only versions of this artifact."),
    json_: bool = JSON,
) -> None:
    """Published artifacts, oldest first."""
    from shipyard.services.releases import artifacts as svc

    if _server():
        data = _remote("GET", "", params={"name": name} if name else {})
    else:
        data = svc.list_artifacts(open_store(), _project(), name)

    def human() -> None:
        from rich.table import Table

        table = Table("artifact", "digest", "size", "media type", "commit", "published", box=None)
        for a in data["artifacts"]:
            table.add_row(
                f"{a['name']}@{a['version']}",
                a["digest"][:19] + "…",
                str(a["size"]),
                a["media_type"],
                (a["commit"] or "")[:7],
                a["created_at"][:19].replace("T", " "),
            )
        console().print(table)

    emit(data, json_, human)


@app.command()
def show(ref: str = REF, json_: bool = JSON) -> None:
    """One artifact: digest, size, commit, provenance and SBOM summary."""
    from shipyard.services.releases import artifacts as svc

    data: Mapping[str, Any] = (
        _remote("GET", _path(ref)) if _server() else svc.show(open_store(), _project(), ref)
    )

    def human() -> None:
        c = console()
        c.print(f"[bold]{data['name']}@{data['version']}[/] {data['filename']}")
        for key in ("digest", "size", "media_type", "commit", "run_id", "created_at"):
            c.print(f"  {key:<18} {data[key]}")
        c.print(f"  {'provenance':<18} {data['provenance_digest']}")
        c.print(f"  {'sbom':<18} {data['sbom_digest']}")
        if data.get("sbom"):
            c.print(f"  {'sbom components':<18} {data['sbom']['components']}")
        for pushed in data.get("pushes", []):
            c.print(f"  {'pushed to':<18} {pushed['target']} {pushed['location']}", markup=False)

    emit(data, json_, human)


@app.command()
def download(
    ref: str = REF,
    output: Path = typer.Option(..., "--output", "-o", help="A file, or a folder to put it in."),
    json_: bool = JSON,
) -> None:
    """Write the artifact's bytes, checked against its digest."""
    from shipyard.services.releases import artifacts as svc

    data: Mapping[str, Any]
    if _server():
        data = _download_remote(ref, output)
    else:
        data = svc.download(open_store(), _project(), ref, output)
    emit(data, json_, lambda: console().print(f"wrote {data['path']} ({data['digest']})"))


def _download_remote(ref: str, output: Path) -> dict[str, Any]:
    import httpx

    from shipyard.adapters.blobs.base import checked, write_chunks
    from shipyard.domain.filenames import safe_basename
    from shipyard.errors import IntegrityFailure

    meta = _remote("GET", _path(ref))
    s = settings()
    headers = {"Authorization": f"Bearer {s.token}"} if s.token else {}
    # The server names the file; only its base name is kept, inside the folder asked for.
    name = safe_basename(meta.get("filename"), _path(ref).strip("/").replace("/", "-"))
    target = output / name if output.is_dir() else output
    url = s.server_url.rstrip("/") + "/api/v1/artifacts" + _path(ref) + "/content"
    try:
        with httpx.stream(
            "GET", url, params={"project": _project()}, headers=headers, timeout=120
        ) as resp:
            resp.raise_for_status()
            # Written as it arrives and hashed on the way; a mismatch leaves no file.
            write_chunks(checked(meta["digest"], resp.iter_bytes(), "the download"), target)
    except (IntegrityFailure, httpx.RemoteProtocolError, httpx.ReadError) as exc:
        # A server that finds its stored bytes corrupt ends the response short.
        raise IntegrityFailure(
            f"downloaded bytes of {ref} do not match {meta['digest']}",
            "download again; if it persists run `shipyard artifacts verify` on the server",
            code="artifact-tampered",
        ) from exc
    return {"path": str(target), "digest": meta["digest"], "size": meta["size"]}


@app.command()
def verify(ref: str = REF, json_: bool = JSON) -> None:
    """Check digest, provenance signature and subject, and SBOM; exit 4 on any change."""
    from shipyard.services.releases import artifacts as svc

    if _server():
        data = _remote("GET", _path(ref) + "/verify")
    else:
        data = svc.verify(open_store(), _project(), ref)
    if not data["ok"]:
        raise svc.tampered(data)

    def human() -> None:
        c = console()
        c.print(f"[green]verified[/] {data['artifact']} {data['digest']}")
        for check in data["checks"]:
            c.print(f"  ok {check['name']}: {check['detail']}")

    emit(data, json_, human)


@app.command()
def push(
    ref: str = REF,
    to: str | None = typer.Option(
        None, "--to", help="One target of release.publish, by name (default: every target)."
    ),
    json_: bool = JSON,
) -> None:
    """Push a published artifact to the registries of release.publish (PyPI, npm, OCI); what
    a registry already holds with the same bytes is left as it is."""
    from shipyard.cli.release import project_context
    from shipyard.identity import actor
    from shipyard.services.releases import publish as svc

    if _server():
        from shipyard.errors import InputError

        raise InputError(
            "artifacts push runs where the registry credentials are, not through a server",
            "run it without SHIPYARD_SERVER, on the machine that holds the store",
            code="publish-remote-unsupported",
        )
    project, spec, _root = project_context()
    data = svc.push(open_store(), project, spec, ref, actor=actor(), to=to)

    def human() -> None:
        c = console()
        for p in data["pushed"]:
            state = "already there" if p["already"] else "pushed"
            c.print(f"{state}: {data['artifact']} -> {p['target']} {p['location']}", markup=False)

    emit(data, json_, human)


OUTPUT = typer.Option(None, "--output", "-o", help="Write to this file instead of printing.")


@app.command()
def attestation(ref: str = REF, output: Path | None = OUTPUT, json_: bool = JSON) -> None:
    """Print the signed provenance: the DSSE envelope exactly as stored and signed, for
    verifiers of in-toto attestations."""
    _print_part(ref, "provenance", output)


@app.command()
def sbom(ref: str = REF, output: Path | None = OUTPUT, json_: bool = JSON) -> None:
    """Print the CycloneDX SBOM exactly as stored, for scanners and other tools."""
    _print_part(ref, "sbom", output)


def _print_part(ref: str, part: str, output: Path | None) -> None:
    """The stored bytes, checked against the registry's digest, unchanged: a reformatted
    envelope would no longer match its signature."""
    import sys

    if _server():
        data = _part_remote(ref, part)
    else:
        from shipyard.services.releases import artifacts as svc

        data, _row = svc.blob(open_store(), _project(), ref, part)
    if output is not None:
        output.write_bytes(data)
        return
    sys.stdout.buffer.write(data if data.endswith(b"\n") else data + b"\n")
    sys.stdout.flush()


def _part_remote(ref: str, part: str) -> bytes:
    import httpx

    from shipyard.adapters.cas.digest import digest_bytes
    from shipyard.cli.client import call
    from shipyard.errors import IntegrityFailure

    s = settings()
    meta = _remote("GET", _path(ref))  # errors (not found, forbidden) as every command has them
    expected = meta["provenance_digest" if part == "provenance" else "sbom_digest"]
    headers = {"Authorization": f"Bearer {s.token}"} if s.token else {}
    url = s.server_url.rstrip("/") + "/api/v1/artifacts" + _path(ref) + "/" + part
    try:
        resp = httpx.get(url, params={"project": _project()}, headers=headers, timeout=60)
    except httpx.HTTPError:
        call(s.server_url, s.token, "GET", "/healthz")  # says server-unreachable, with a hint
        raise
    resp.raise_for_status()
    if digest_bytes(resp.content) != expected:
        raise IntegrityFailure(
            f"the {part} of {ref} the server sent does not match {expected}",
            "run `shipyard artifacts verify` against the server",
            code="artifact-tampered",
        )
    return resp.content
