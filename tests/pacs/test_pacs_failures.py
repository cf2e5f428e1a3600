"""What goes wrong in a hospital network, against the real Orthanc: a connection dropped mid-transfer (a
proxy that cuts the stream), an unreachable or hung PACS, TLS with a site CA, bearer tokens, and secrets
kept out of messages and logs.  Each failure is one line ``ceuskit: error: …`` (exit 2) without any
identifier, and leaves no partial file behind.
"""

from __future__ import annotations

import base64
import logging
import socket
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pacs_proxy import CuttingProxy, SilentServer
from pacs_testing import Orthanc, leftovers, make_site_ca, pixels, run, start_orthanc, stop_orthanc, uids

pytestmark = pytest.mark.pacs
CUT_BYTES = 1_000_000  # the phantom clip is ~2.5 MB: the cut falls inside its transfer


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def no_uid_in(text: str, clip) -> None:  # noqa: ANN001
    for uid in uids(clip.dicom):
        assert uid not in text
    assert "CEUSKIT-STORED" not in text


# --------------------------------------------------------------------------------------- dropped connections
def test_dicomweb_transfer_cut_off_every_time(credentials: Orthanc, stored_clip, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    study, _, _ = uids(stored_clip.dicom)
    with CuttingProxy(credentials.http_port, cut_after=CUT_BYTES) as proxy:
        url = f"http://127.0.0.1:{proxy.port}/dicom-web"
        status, out, err = run(capsys, "pacs", "pull", "--url", url, "--study", study, "--out", tmp_path,
                               "--retries", "1")
    assert (status, out) == (2, "")
    assert err == (f"ceuskit: error: the connection to the PACS at {url} broke off during the transfer; nothing "
                   "incomplete was kept, try again\n")
    assert proxy.cuts == 2  # the first try and one retry, no more
    assert not list(tmp_path.rglob("*.dcm")) and leftovers(tmp_path) == []
    no_uid_in(err, stored_clip)


def test_dicomweb_transfer_cut_once_is_retried(credentials: Orthanc, stored_clip, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    study, _, _ = uids(stored_clip.dicom)
    with CuttingProxy(credentials.http_port, cut_after=CUT_BYTES, cut_connections=1) as proxy:
        status, out, err = run(capsys, "pacs", "pull", "--url", f"http://127.0.0.1:{proxy.port}/dicom-web",
                               "--study", study, "--out", tmp_path)
    assert status == 0, err
    assert proxy.cuts == 1 and proxy.connections >= 2
    assert np.array_equal(pixels(Path(out.strip())), pixels(stored_clip.dicom))
    assert leftovers(tmp_path) == []


def test_dimse_transfer_cut_off(orthanc: Orthanc, stored_clip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    study, _, _ = uids(stored_clip.dicom)
    scratch = tmp_path / "system-tmp"  # where pynetdicom spools received datasets
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with CuttingProxy(orthanc.dicom_port, cut_after=CUT_BYTES) as proxy:
        status, out, err = run(capsys, "pacs", "pull", "--dimse", f"127.0.0.1:{proxy.port}", "--aec", orthanc.aet,
                               "--study", study, "--out", tmp_path / "out", "--retries", "0")
    assert (status, out) == (2, "")
    assert err == (f"ceuskit: error: the connection to the PACS at 127.0.0.1:{proxy.port} broke off during the "
                   "transfer; nothing incomplete was kept, try again\n")
    assert proxy.cuts >= 1
    assert not list((tmp_path / "out").rglob("*.dcm")) and leftovers(tmp_path / "out") == []
    assert list(scratch.iterdir()) == []  # pynetdicom's partial spool file is gone too
    no_uid_in(err, stored_clip)


def test_dimse_store_cut_off(orthanc: Orthanc, stored_clip, capsys: pytest.CaptureFixture[str]) -> None:
    with CuttingProxy(orthanc.dicom_port, cut_after=1) as proxy:  # the association itself is cut
        status, _, err = run(capsys, "pacs", "push", "--dimse", f"127.0.0.1:{proxy.port}", "--aec", orthanc.aet,
                             "--retries", "0", stored_clip.dicom)
    assert status == 2 and err.startswith(f"ceuskit: error: the PACS at 127.0.0.1:{proxy.port} accepts connections "
                                          "but no DICOM association")


# ----------------------------------------------------------------------------------------- unreachable, hung
@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_unreachable_pacs_is_one_line(protocol: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    where = ["--url", f"http://127.0.0.1:{port}/dicom-web"] if protocol == "dicomweb" else \
        ["--dimse", f"127.0.0.1:{port}", "--aec", "PACS"]
    status, out, err = run(capsys, "pacs", "pull", *where, "--study", "1.2.3.4", "--out", tmp_path / "x")
    label = f"http://127.0.0.1:{port}/dicom-web" if protocol == "dicomweb" else f"127.0.0.1:{port}"
    hint = "the URL" if protocol == "dicomweb" else "HOST:PORT"
    assert (status, out) == (2, "")
    assert err == (f"ceuskit: error: cannot reach the PACS at {label} (connection refused); check {hint} and that "
                   "the server is running\n")
    assert not (tmp_path / "x").exists()


def test_hung_pacs_times_out(capsys: pytest.CaptureFixture[str]) -> None:
    with SilentServer() as silent:
        status, _, err = run(capsys, "pacs", "find", "--url", f"http://127.0.0.1:{silent.port}/dicom-web",
                             "--timeout", "0.5", "--retries", "0")
        assert status == 2
        assert err == (f"ceuskit: error: the PACS at http://127.0.0.1:{silent.port}/dicom-web did not answer within "
                       "0.5 s (raise --timeout if the server is slow)\n")
        status, _, err = run(capsys, "pacs", "echo", "--dimse", f"127.0.0.1:{silent.port}", "--aec", "PACS",
                             "--timeout", "0.5", "--retries", "0")
        assert status == 2 and "accepts connections but no DICOM association (aborted or timed out)" in err


# ------------------------------------------------------------------------------------------------------ TLS
@pytest.fixture(scope="module")
def site_ca(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A site CA and a server certificate for 127.0.0.1 that it signed (openssl, EC P-256)."""
    return make_site_ca(tmp_path_factory.mktemp("tls"))


@pytest.fixture()
def https_orthanc(credentials: Orthanc, site_ca: dict[str, Path], monkeypatch: pytest.MonkeyPatch
                  ) -> Iterator[str]:
    """The Orthanc's DICOMweb behind HTTPS with the site CA's certificate; its URL."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(site_ca["cert"], site_ca["key"])
    with CuttingProxy(credentials.http_port, tls=context) as proxy:
        yield f"https://127.0.0.1:{proxy.port}/dicom-web"


def test_tls_is_verified_and_a_site_ca_bundle_is_accepted(https_orthanc: str, site_ca: dict[str, Path],
                                                          stored_clip, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "pacs", "find", "--url", https_orthanc, "--patient-id", "CEUSKIT-STORED")
    assert status == 2
    assert err.startswith(f"ceuskit: error: the PACS at {https_orthanc}: TLS failed (certificate verify failed: ")
    assert err.endswith("give its CA bundle (--ca-bundle FILE or ca_bundle in the PACS config)\n")
    assert err.count("\n") == 1
    status, out, err = run(capsys, "pacs", "find", "--url", https_orthanc, "--ca-bundle", site_ca["ca"],
                           "--patient-id", "CEUSKIT-STORED")
    assert status == 0 and out.startswith(f"study {uids(stored_clip.dicom)[0]}"), err
    config = tmp_path / "pacs.toml"  # the same from a config entry (no secret in it: any mode is fine)
    config.write_text(f'[[pacs]]\nname = "secure"\nurl = "{https_orthanc}"\nca_bundle = "{site_ca["ca"]}"\n')
    status, _, err = run(capsys, "pacs", "echo", "--url", "secure", "--config", config)
    assert status == 0, err


def test_dimse_over_tls_is_verified(orthanc: Orthanc, site_ca: dict[str, Path], stored_clip, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(site_ca["cert"], site_ca["key"])
    with CuttingProxy(orthanc.dicom_port, tls=context) as proxy:  # Orthanc's DICOM port behind DICOM TLS
        where = ["--dimse", f"127.0.0.1:{proxy.port}", "--aec", orthanc.aet, "--tls"]
        status, _, err = run(capsys, "pacs", "echo", *where)
        assert status == 2
        assert err == (f"ceuskit: error: the PACS at 127.0.0.1:{proxy.port}: TLS failed (certificate verify failed: "
                       "unable to get local issuer certificate); if the site uses its own certificate authority, "
                       "give its CA bundle (--ca-bundle FILE or ca_bundle in the PACS config)\n")
        study, _, _ = uids(stored_clip.dicom)
        status, out, err = run(capsys, "pacs", "pull", *where, "--ca-bundle", site_ca["ca"], "--study", study,
                               "--out", tmp_path)
        assert status == 0, err
        assert np.array_equal(pixels(Path(out.strip())), pixels(stored_clip.dicom))
        status, _, err = run(capsys, "pacs", "pull", *where, "--study", study, "--out", tmp_path, "--move-port", "1")
        assert status == 2 and "C-MOVE to us over TLS is not supported" in err
    status, _, err = run(capsys, "pacs", "echo", "--url", "https://127.0.0.1:1/dicom-web", "--tls")
    assert status == 2 and err == "ceuskit: error: --tls is for DIMSE; for DICOMweb use an https:// URL\n"


def test_credentials_over_plain_http_are_refused_off_this_machine(capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEUSKIT_PACS_TOKEN", "secret-token")
    status, _, err = run(capsys, "pacs", "find", "--url", "http://pacs.example.org/dicom-web")
    assert status == 2 and err == ("ceuskit: error: credentials would travel unencrypted over http://; use https:// "
                                   "(or set allow_plain_http = true in the PACS config entry)\n")


# --------------------------------------------------------------------------------------------------- bearer
@pytest.fixture(scope="module")
def bearer_orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orthanc, str]]:
    """A second Orthanc that admits only ``Authorization: Bearer TOKEN`` (its Lua request filter)."""
    token = "t0ken-" + base64.urlsafe_b64encode(np.random.default_rng(7).bytes(12)).decode()
    script = tmp_path_factory.mktemp("lua") / "bearer.lua"
    script.write_text("function IncomingHttpRequestFilter(method, uri, ip, username, httpHeaders)\n"
                      f"  return httpHeaders['authorization'] == 'Bearer {token}'\nend\n")
    server = start_orthanc({"ORTHANC_TEST_LUA": str(script)})
    try:
        yield server, token
    finally:
        stop_orthanc(server)


def test_bearer_token_from_environment_or_config(bearer_orthanc: tuple[Orthanc, str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    server, token = bearer_orthanc
    status, _, err = run(capsys, "pacs", "echo", "--url", server.dicomweb)
    assert status == 2 and f"the PACS at {server.dicomweb} refused our credentials (HTTP 403)" in err
    monkeypatch.setenv("CEUSKIT_PACS_TOKEN", token)
    status, out, err = run(capsys, "pacs", "echo", "--url", server.dicomweb)
    assert status == 0, err
    monkeypatch.delenv("CEUSKIT_PACS_TOKEN")
    config = tmp_path / "pacs.toml"
    config.write_text(f'[[pacs]]\nurl = "{server.dicomweb}"\ntoken = "{token}"\n')
    config.chmod(0o600)
    assert run(capsys, "pacs", "echo", "--url", server.dicomweb, "--config", config)[0] == 0
    config.write_text(f'[[pacs]]\nurl = "{server.dicomweb}"\ntoken = "wrong"\n')
    status, _, err = run(capsys, "pacs", "echo", "--url", server.dicomweb, "--config", config)
    assert status == 2 and "refused our credentials (HTTP 403); check the credentials from the config file" in err


def test_secrets_stay_out_of_output_and_logs(credentials: Orthanc, stored_clip, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    study, _, _ = uids(stored_clip.dicom)
    status, out, err = run(capsys, "pacs", "pull", "--url", credentials.dicomweb, "--study", study, "--out", tmp_path)
    assert status == 0, err
    basic = base64.b64encode(f"{credentials.user}:{credentials.password}".encode()).decode()
    everything = out + err + caplog.text
    assert str(credentials.password) not in everything and basic not in everything
    informative = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    no_uid_in(informative, stored_clip)  # what a server log at INFO would keep: no identifier
    status, _, err = run(capsys, "pacs", "find", "--url",
                         f"http://{credentials.user}:{credentials.password}@127.0.0.1:{credentials.http_port}/x")
    assert status == 2 and str(credentials.password) not in err
    assert err == ("ceuskit: error: the PACS URL must not carry credentials: set CEUSKIT_PACS_USERNAME and "
                   "CEUSKIT_PACS_PASSWORD (or CEUSKIT_PACS_TOKEN), or use a config file entry\n")
