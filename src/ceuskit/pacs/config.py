"""Where the PACS is and how to reach it: URL or host:port, credentials, TLS, timeouts, retries.

Credentials never come from the command line (it lands in shell histories and process lists) and are never
part of a message or a log line.  They come from, in this order:

1. environment variables ``CEUSKIT_PACS_TOKEN`` (HTTP bearer) or ``CEUSKIT_PACS_USERNAME`` and
   ``CEUSKIT_PACS_PASSWORD`` (HTTP basic);
2. the entry of the config file that matches the server (``--config FILE``, else ``CEUSKIT_PACS_CONFIG``,
   else ``$XDG_CONFIG_HOME/ceuskit/pacs.toml``, i.e. ``~/.config/ceuskit/pacs.toml``).

A config file holding a password or token must be private to its owner (``chmod 600``), as ssh demands
of its keys.  Example::

    [[pacs]]
    name = "hospital"                               # then: --url hospital  (or --push hospital)
    url = "https://pacs.example.org/dicom-web"      # DICOMweb base URL
    username = "ceuskit"
    password = "…"                                  # or: token = "…" (bearer)
    ca_bundle = "/etc/ssl/certs/hospital-ca.pem"    # the site's CA, when not in the system store
    timeout_s = 60
    retries = 3

    [[pacs]]
    name = "modality-archive"
    dimse = "pacs.example.org:104"                  # DIMSE: --dimse modality-archive
    aet = "CEUSKIT"                                 # our AE title
    aec = "ARCHIVE"                                 # theirs
    tls = true                                      # DICOM over TLS (certificate verified, ca_bundle applies)

An entry is chosen by its ``name``, or by its ``url`` / ``dimse`` being the one given (compared without a
trailing slash, host case-insensitively): credentials are never sent to a server they were not written for.
TLS certificates are always verified, against the system's CA store or the ``ca_bundle`` given.
Credentials over plain ``http://`` are refused except to this machine (loopback), unless the entry says
``allow_plain_http = true``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ceuskit.errors import InputError

__all__ = ["DEFAULT_AET", "Credentials", "PacsTarget", "Transport", "default_config_path", "load_entries",
           "redact_url", "resolve_destination", "resolve_target"]

DEFAULT_AET = "CEUSKIT"
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # PS3.5 AE: 16 chars, no backslash, no control chars
_KNOWN_KEYS = {"name", "url", "dimse", "username", "password", "token", "ca_bundle", "timeout_s", "retries",
               "aet", "aec", "allow_plain_http", "tls"}


@dataclass(frozen=True)
class Credentials:
    """HTTP credentials: basic (username and password) or bearer (token). Never shown by ``repr``."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    source: str = "none"  # "environment", "config file" or "none": for messages, not a secret

    @property
    def present(self) -> bool:
        """Whether any credential is set."""
        return bool(self.token or self.username)


@dataclass(frozen=True)
class Transport:
    """Network behaviour: TLS verification (True or a CA bundle path), timeouts (s), bounded retries."""

    verify: bool | str = True
    connect_timeout_s: float = 10.0
    timeout_s: float = 60.0
    retries: int = 2
    backoff_s: float = 0.5


@dataclass(frozen=True)
class PacsTarget:
    """One PACS: a DICOMweb base URL or a DIMSE host and port, with what it takes to talk to it.

    ``label`` is what messages call it: the URL without credentials, query or fragment, or ``host:port``.
    """

    url: str | None = None
    host: str | None = None
    port: int | None = None
    aet: str = DEFAULT_AET
    aec: str = "ANY-SCP"
    credentials: Credentials = field(default_factory=Credentials)
    transport: Transport = field(default_factory=Transport)
    tls: bool = False  # DIMSE over TLS (DICOMweb: the URL's scheme decides)

    @property
    def kind(self) -> str:
        """``"dicomweb"`` or ``"dimse"``."""
        return "dicomweb" if self.url else "dimse"

    @property
    def label(self) -> str:
        """How messages name this server (never with credentials)."""
        return redact_url(self.url) if self.url else f"{self.host}:{self.port}"


def redact_url(url: str) -> str:
    """``url`` without user info, query and fragment (what may appear in a message)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``CEUSKIT_PACS_CONFIG``, else ``$XDG_CONFIG_HOME/ceuskit/pacs.toml`` (``~/.config`` by default)."""
    env = os.environ if env is None else env
    if env.get("CEUSKIT_PACS_CONFIG"):
        return Path(env["CEUSKIT_PACS_CONFIG"])
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "ceuskit" / "pacs.toml"


def _toml(text: str, path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not a valid TOML file ({exc})") from None


def load_entries(path: Path, *, required: bool) -> list[dict[str, Any]]:
    """Return the ``[[pacs]]`` entries of the config file at ``path``.

    [] when the file is missing and not ``required``.

    Raises
    ------
    InputError
        Unreadable or malformed file, unknown keys, or secrets in a file that others may read.
    """
    if not path.is_file():
        if required:
            raise InputError(f"{path}: no such PACS config file")
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the PACS config file ({type(exc).__name__})") from None
    entries = _toml(text, path).get("pacs", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InputError(f"{path}: PACS entries must be [[pacs]] tables")
    for number, entry in enumerate(entries, 1):
        unknown = sorted(set(entry) - _KNOWN_KEYS)
        if unknown:
            raise InputError(f"{path}: [[pacs]] entry {number} has unknown key(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(_KNOWN_KEYS))}")
        if ("password" in entry or "token" in entry) and os.name == "posix":
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise InputError(f"{path} holds PACS credentials but other users may read it; "
                                 f"run `chmod 600 {path}`")
    return entries


def _normal_url(url: str) -> str:
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("--url must be an http:// or https:// DICOMweb base URL (or the name of a config entry)")
    if parts.username is not None or parts.password is not None:
        raise InputError("the PACS URL must not carry credentials: set CEUSKIT_PACS_USERNAME and "
                         "CEUSKIT_PACS_PASSWORD (or CEUSKIT_PACS_TOKEN), or use a config file entry")
    if parts.query or parts.fragment:
        raise InputError("the PACS URL must be a base URL without ?query or #fragment")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise InputError("the PACS URL has an invalid port") from None
    return url.rstrip("/")


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError("--dimse must be HOST:PORT (e.g. pacs.example.org:104) or the name of a config entry")
    return host, int(port)


def _ae_title(value: str, option: str) -> str:
    value = value.strip()
    if not _AE_TITLE.match(value) or not value:
        raise InputError(f"{option} must be an AE title: 1 to 16 printable ASCII characters, no backslash")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _entry_for(entries: list[dict[str, Any]], *, url: str | None, dimse: str | None) -> dict[str, Any] | None:
    given = url if url is not None else dimse
    for entry in entries:
        if entry.get("name") == given:
            return entry
    for entry in entries:
        if url is not None and entry.get("url") and _normal_url(str(entry["url"])) == _normal_url(url):
            return entry
        if dimse is not None and entry.get("dimse") and str(entry["dimse"]).strip().lower() == dimse.strip().lower():
            return entry
    return None


def _number(entry: Mapping[str, Any], key: str, kind: type, low: float, high: float) -> Any:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InputError(f"PACS config: {key} must be a number from {low:g} to {high:g}")
    return kind(value)


def _credentials(env: Mapping[str, str], entry: Mapping[str, Any] | None) -> Credentials:
    if env.get("CEUSKIT_PACS_TOKEN"):
        return Credentials(token=env["CEUSKIT_PACS_TOKEN"], source="environment")
    if env.get("CEUSKIT_PACS_USERNAME") or env.get("CEUSKIT_PACS_PASSWORD"):
        if not (env.get("CEUSKIT_PACS_USERNAME") and env.get("CEUSKIT_PACS_PASSWORD")):
            raise InputError("set both CEUSKIT_PACS_USERNAME and CEUSKIT_PACS_PASSWORD (HTTP basic), or "
                             "CEUSKIT_PACS_TOKEN (bearer)")
        return Credentials(username=env["CEUSKIT_PACS_USERNAME"], password=env["CEUSKIT_PACS_PASSWORD"],
                           source="environment")
    if entry is None:
        return Credentials()
    if entry.get("token"):
        return Credentials(token=str(entry["token"]), source="config file")
    if entry.get("username") or entry.get("password"):
        if not (entry.get("username") and entry.get("password")):
            raise InputError("PACS config: an entry with a username needs its password (or use token)")
        return Credentials(username=str(entry["username"]), password=str(entry["password"]), source="config file")
    return Credentials()


def resolve_target(*, url: str | None = None, dimse: str | None = None, aet: str | None = None,
                   aec: str | None = None, config: Path | None = None, ca_bundle: Path | None = None,
                   timeout_s: float | None = None, retries: int | None = None, tls: bool | None = None,
                   env: Mapping[str, str] | None = None) -> PacsTarget:
    """Return the PACS named by ``url`` (DICOMweb) or ``dimse`` (``HOST:PORT``).

    Either may be a config entry name.

    Explicit arguments win over the config entry, which wins over the defaults; credentials come from the
    environment, else the entry (see the module docstring).  ``tls`` (DIMSE only): DICOM over TLS, the
    peer's certificate verified against the system store or the CA bundle.

    Raises
    ------
    InputError
        Neither or both of ``url`` and ``dimse``; a malformed URL, address or AE title; credentials in the
        URL or sent unencrypted; a CA bundle that is not a file; a bad config file.
    """
    env = os.environ if env is None else env
    if (url is None) == (dimse is None):
        raise InputError("give the PACS as --url URL (DICOMweb) or --dimse HOST:PORT (DIMSE), not both")
    path = config if config is not None else default_config_path(env)
    entry = _entry_for(load_entries(path, required=config is not None), url=url, dimse=dimse)
    transport = Transport()
    bundle = ca_bundle if ca_bundle is not None else (Path(str(entry["ca_bundle"])).expanduser()
                                                      if entry and entry.get("ca_bundle") else None)
    if bundle is not None:
        if not bundle.is_file():
            raise InputError(f"CA bundle {bundle}: no such file (give a PEM file of the site's CA certificates)")
        transport = Transport(verify=str(bundle))
    entry_timeout = _number(entry or {}, "timeout_s", float, 0.1, 3600)
    entry_retries = _number(entry or {}, "retries", int, 0, 10)
    if timeout_s is not None and not 0 < timeout_s <= 3600:
        raise InputError("--timeout must be between 0 and 3600 s")
    if retries is not None and not 0 <= retries <= 10:
        raise InputError("--retries must be between 0 and 10")
    chosen_timeout = timeout_s if timeout_s is not None else entry_timeout
    transport = Transport(verify=transport.verify,
                          connect_timeout_s=min(transport.connect_timeout_s, chosen_timeout or transport.timeout_s),
                          timeout_s=chosen_timeout or transport.timeout_s,
                          retries=retries if retries is not None else (entry_retries if entry_retries is not None
                                                                       else transport.retries),
                          backoff_s=transport.backoff_s)
    credentials = _credentials(env, entry)
    if url is not None:
        base = _check_url(str(entry["url"]) if entry and entry.get("url") and entry.get("name") == url else url)
        parts = urlsplit(base)
        if credentials.present and parts.scheme == "http" and not _is_loopback(parts.hostname or "") \
                and not (entry or {}).get("allow_plain_http"):
            raise InputError("credentials would travel unencrypted over http://; use https:// (or set "
                             "allow_plain_http = true in the PACS config entry)")
        if tls:
            raise InputError("--tls is for DIMSE; for DICOMweb use an https:// URL")
        return PacsTarget(url=base, credentials=credentials, transport=transport)
    assert dimse is not None
    address = str(entry["dimse"]) if entry and entry.get("dimse") and entry.get("name") == dimse else dimse
    host, port = _host_port(address)
    return PacsTarget(host=host, port=port,
                      aet=_ae_title(aet or str((entry or {}).get("aet") or DEFAULT_AET), "--aet"),
                      aec=_ae_title(aec or str((entry or {}).get("aec") or "ANY-SCP"), "--aec"),
                      credentials=credentials, transport=transport,
                      tls=bool(tls if tls is not None else (entry or {}).get("tls", False)))


def resolve_destination(value: str, *, config: Path | None = None, ca_bundle: Path | None = None,
                        env: Mapping[str, str] | None = None) -> PacsTarget:
    """Return a PACS given as one value: a DICOMweb URL, or the name of a config entry (DICOMweb or DIMSE).

    What ``export-dicom --push`` and ``serve --pacs`` take.
    """
    env = os.environ if env is None else env
    if not value.lower().startswith(("http://", "https://")):
        path = config if config is not None else default_config_path(env)
        entry = next((e for e in load_entries(path, required=config is not None) if e.get("name") == value), None)
        if entry is None:
            raise InputError("the PACS must be a DICOMweb URL (http:// or https://) or the name of an entry of "
                             f"the PACS config file {path}")
        if entry.get("dimse") and not entry.get("url"):
            return resolve_target(dimse=value, config=config, ca_bundle=ca_bundle, env=env)
    return resolve_target(url=value, config=config, ca_bundle=ca_bundle, env=env)
