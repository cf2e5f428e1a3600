"""``ceuskit serve``: the browser workstation on this machine (loopback by default)."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Annotated

import typer

from ceuskit.cli.command import app
from ceuskit.errors import InputError
from ceuskit.store import DEFAULT_URL


def _network(text: str) -> str:
    """Parse a --trusted-proxy value as an address or network uvicorn understands (InputError otherwise)."""
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        raise InputError(f"--trusted-proxy {text!r}: give the proxy's IP address or network "
                         "(e.g. 127.0.0.1 or 10.0.0.0/8)") from None


@app.command("serve")
def serve(host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback: this machine only).")
                          ] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
          db: Annotated[str, typer.Option("--db", help="Study database URL.")] = DEFAULT_URL,
          data: Annotated[Path, typer.Option("--data", help="Data folder: clips are read only from here; "
                                                            "uploads land in its uploads/.")] = Path("."),
          max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", min=1, help="Largest upload (MB).")] = 2048,
          pacs: Annotated[str | None, typer.Option("--pacs", help="Hospital PACS to search, fetch clips from and "
                                                   "send results to: a DICOMweb URL or a PACS config entry name "
                                                   "(credentials: environment or config file).")] = None,
          trusted_proxy: Annotated[list[str] | None, typer.Option(
              "--trusted-proxy", help="Address (or network, e.g. 10.0.0.0/8) of a reverse proxy whose "
              "X-Forwarded-For and X-Forwarded-Proto are believed; repeat for several. Without it the client "
              "address is the peer's, whatever a request claims.")] = None,
          ) -> None:
    """Serve the workstation: studies, clip viewer, ROI drawing, analysis, maps, cohort dashboard, blinded reads.

    People sign in with accounts made by `ceuskit user add NAME --role admin|reader`; scripts send a user's API
    token (`ceuskit user token NAME`) or the bootstrap administrator token: CEUSKIT_TOKEN, or one generated at
    the first start, stored in DATA/.ceuskit/token and printed once. Behind a reverse proxy, name it with
    --trusted-proxy so sign-in throttling and the audit log see the real client address.
    """
    import uvicorn

    from ceuskit.web import Settings, create_app, load_or_create_token

    if not data.is_dir():
        raise InputError(f"--data {data}: no such folder")
    token, created = load_or_create_token(data)
    settings = Settings(db_url=db, data_dir=data, token=token, max_upload_bytes=max_upload_mb << 20, pacs=pacs)
    application = create_app(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if created:
        typer.echo(f"bootstrap administrator token (stored in {data / '.ceuskit' / 'token'}): {token}")
    if not application.state.context.has_users():
        typer.echo(f"no user accounts yet: add an administrator with `ceuskit user add NAME --role admin --db {db}` "
                   "to sign in with a browser")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"ceuskit workstation on http://{shown}:{port}/ (Ctrl-C to stop)")
    proxies = [_network(p) for p in trusted_proxy or []]
    # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: only the proxies named here are believed
    uvicorn.run(application, host=host, port=port, access_log=False, log_level="warning",
                proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None)
