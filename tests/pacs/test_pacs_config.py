"""Where credentials, TLS settings and limits come from; user input checks (no server needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ceuskit.errors import InputError
from ceuskit.pacs.config import redact_url, resolve_destination, resolve_target
from ceuskit.pacs.records import Query, check_uid, parse_date_range, parse_ref

URL = "https://pacs.example.org/dicom-web"


def write_config(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_environment_credentials_win_over_the_config_file(tmp_path: Path) -> None:
    config = write_config(tmp_path / "pacs.toml", f'[[pacs]]\nurl = "{URL}"\nusername = "file"\npassword = "pw"\n')
    env = {"CEUSKIT_PACS_USERNAME": "env-user", "CEUSKIT_PACS_PASSWORD": "env-pw"}
    target = resolve_target(url=URL, config=config, env=env)
    assert (target.credentials.username, target.credentials.password, target.credentials.source) == (
        "env-user", "env-pw", "environment")
    target = resolve_target(url=URL, config=config, env={"CEUSKIT_PACS_TOKEN": "tok"})
    assert (target.credentials.token, target.credentials.username) == ("tok", None)
    target = resolve_target(url=URL + "/", config=config, env={})  # the trailing slash does not matter
    assert (target.credentials.username, target.credentials.source) == ("file", "config file")
    assert "pw" not in repr(target) and "tok" not in repr(resolve_target(url=URL, env={"CEUSKIT_PACS_TOKEN": "tok"}))


def test_half_set_environment_credentials_are_refused() -> None:
    with pytest.raises(InputError, match="set both CEUSKIT_PACS_USERNAME and CEUSKIT_PACS_PASSWORD"):
        resolve_target(url=URL, env={"CEUSKIT_PACS_USERNAME": "u"})


def test_credentials_are_never_sent_to_another_server(tmp_path: Path) -> None:
    config = write_config(tmp_path / "pacs.toml", f'[[pacs]]\nurl = "{URL}"\ntoken = "secret"\n')
    other = resolve_target(url="https://pacs.example.org.evil.test/dicom-web", config=config, env={})
    assert not other.credentials.present
    assert not resolve_target(url="https://pacs.example.org/other-path", config=config, env={}).credentials.present
    assert resolve_target(url="https://PACS.example.org/dicom-web", config=config, env={}).credentials.token == "secret"


def test_config_file_checks(tmp_path: Path) -> None:
    secret = write_config(tmp_path / "open.toml", f'[[pacs]]\nurl = "{URL}"\npassword = "x"\nusername = "u"\n',
                          mode=0o640)
    with pytest.raises(InputError, match=r"other users may read it; run `chmod 600 "):
        resolve_target(url=URL, config=secret, env={})
    harmless = write_config(tmp_path / "ca.toml", f'[[pacs]]\nurl = "{URL}"\ntimeout_s = 5\n', mode=0o644)
    assert resolve_target(url=URL, config=harmless, env={}).transport.timeout_s == 5
    unknown = write_config(tmp_path / "typo.toml", f'[[pacs]]\nurl = "{URL}"\npasword = "x"\n')
    with pytest.raises(InputError, match="unknown key"):
        resolve_target(url=URL, config=unknown, env={})
    broken = write_config(tmp_path / "broken.toml", "[[pacs]\n")
    with pytest.raises(InputError, match="not a valid TOML file"):
        resolve_target(url=URL, config=broken, env={})
    with pytest.raises(InputError, match="no such PACS config file"):
        resolve_target(url=URL, config=tmp_path / "missing.toml", env={})
    bad_number = write_config(tmp_path / "n.toml", f'[[pacs]]\nurl = "{URL}"\nretries = 99\n')
    with pytest.raises(InputError, match="retries must be a number from 0 to 10"):
        resolve_target(url=URL, config=bad_number, env={})
    # the default file (CEUSKIT_PACS_CONFIG) may be missing: then there is simply no entry
    assert not resolve_target(url=URL, env={"CEUSKIT_PACS_CONFIG": str(tmp_path / "none.toml")}).credentials.present


def test_named_entries_and_dimse(tmp_path: Path) -> None:
    config = write_config(tmp_path / "pacs.toml",
                          f'[[pacs]]\nname = "web"\nurl = "{URL}"\n\n'
                          '[[pacs]]\nname = "archive"\ndimse = "archive.example.org:11112"\naet = "MINE"\naec = "THEIRS"\n')
    web = resolve_target(url="web", config=config, env={})
    assert (web.kind, web.url, web.label) == ("dicomweb", URL, URL)
    archive = resolve_destination("archive", config=config, env={})
    assert (archive.kind, archive.host, archive.port, archive.aet, archive.aec, archive.label) == (
        "dimse", "archive.example.org", 11112, "MINE", "THEIRS", "archive.example.org:11112")
    overridden = resolve_target(dimse="archive", aec="OTHER", config=config, env={})
    assert (overridden.aec, overridden.aet) == ("OTHER", "MINE")
    assert resolve_destination(URL, env={}).url == URL
    with pytest.raises(InputError, match="the name of an entry of the PACS config file"):
        resolve_destination("nowhere", config=config, env={})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"url": "ftp://pacs/dicom-web"}, "must be an http:// or https://"),
    ({"url": "https:///dicom-web"}, "must be an http:// or https://"),
    ({"url": "https://u:p@pacs/dicom-web"}, "must not carry credentials"),
    ({"url": "https://pacs/dicom-web?x=1"}, "without ?query"),
    ({"url": "https://pacs:99999/dicom-web"}, "invalid port"),
    ({"url": URL, "dimse": "pacs:104"}, "not both"),
    ({}, "not both"),
    ({"dimse": "pacs"}, "HOST:PORT"),
    ({"dimse": "pacs:0"}, "HOST:PORT"),
    ({"dimse": "pacs:104", "aec": "A" * 17}, "--aec must be an AE title"),
    ({"dimse": "pacs:104", "aet": "BACK\\SLASH"}, "--aet must be an AE title"),
    ({"url": URL, "timeout_s": 0}, "--timeout must be between"),
    ({"url": URL, "retries": 11}, "--retries must be between"),
    ({"url": URL, "ca_bundle": Path("/nonexistent/ca.pem")}, "no such file"),
])
def test_bad_targets(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("?", r"\?")):
        resolve_target(env={}, **kwargs)


def test_plain_http_credentials_only_to_loopback_or_when_allowed(tmp_path: Path) -> None:
    env = {"CEUSKIT_PACS_TOKEN": "t"}
    assert resolve_target(url="http://127.0.0.1:8042/dicom-web", env=env).credentials.token == "t"
    assert resolve_target(url="http://localhost/dicom-web", env=env).credentials.token == "t"
    with pytest.raises(InputError, match="unencrypted"):
        resolve_target(url="http://pacs.example.org/dicom-web", env=env)
    config = write_config(tmp_path / "p.toml", '[[pacs]]\nurl = "http://pacs.example.org/dicom-web"\n'
                                               'allow_plain_http = true\n')
    assert resolve_target(url="http://pacs.example.org/dicom-web", config=config, env=env).credentials.token == "t"
    assert not resolve_target(url="http://pacs.example.org/dicom-web", env={}).credentials.present


def test_redact_url() -> None:
    assert redact_url("https://user:pw@Pacs.example.org:8443/dicom-web/?q=1#f") == "https://pacs.example.org:8443/dicom-web"


@pytest.mark.parametrize(("given", "dicom"), [
    ("20260131", "20260131"), ("2026-01-31", "20260131"), ("20260101-20260131", "20260101-20260131"),
    ("20260101-", "20260101-"), ("-20260131", "-20260131"), ("2026-01-01..2026-01-31", "20260101-20260131"),
    ("..2026-01-31", "-20260131"), ("2026-01-01..", "20260101-")])
def test_date_ranges(given: str, dicom: str) -> None:
    assert parse_date_range(given) == dicom


@pytest.mark.parametrize("given", ["2026", "20261301", "2026-02-30", "-", "..", "20260131-20260101", "yesterday"])
def test_bad_date_ranges(given: str) -> None:
    with pytest.raises(InputError, match="--study-date"):
        parse_date_range(given)


def test_uids_and_references() -> None:
    assert check_uid(" 1.2.840.10008 ", "--study") == "1.2.840.10008"
    for bad in ("1.02.3", "1..2", "abc", "1." + "2" * 70, "1.2.3/4"):
        with pytest.raises(InputError) as info:
            check_uid(bad, "--study")
        assert bad not in str(info.value)  # a UID is never repeated back
    ref = parse_ref("dicomweb:1.2.3/1.2.4")
    assert ref is not None and (ref.study_uid, ref.series_uid, ref.sop_uid) == ("1.2.3", "1.2.4", None)
    assert str(parse_ref("DICOMweb:1.2.3/1.2.4/1.2.5/")) == "dicomweb:1.2.3/1.2.4/1.2.5"
    assert parse_ref("clips/a.dcm") is None
    for bad in ("dicomweb:1.2.3", "dicomweb:1.2/3/4/5", "dicomweb:1.2/x"):
        with pytest.raises(InputError):
            parse_ref(bad)


def test_query_checks() -> None:
    with pytest.raises(InputError, match="--patient-id"):
        Query(patient_id="a\\b")
    with pytest.raises(InputError, match="--modality"):
        Query(modality="u s")
    with pytest.raises(InputError, match="--limit"):
        Query(limit=0)
