"""`ceuskit study …`: import, stats, export, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from cohort_fakes import fake_analyze_examination, rewrite_line, write_cohort

from ceuskit import store, study
from ceuskit.cli import main


def test_cli_import_stats_export_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    manifest = write_cohort(tmp_path / "c")
    assert main(["study", "init", "--db", url]) == 0
    assert main(["study", "import", str(manifest), "--db", url]) == 0
    assert "imported 10 new" in capsys.readouterr().out
    assert main(["study", "import-reads", str(tmp_path / "c" / "reads.csv"), "--db", url]) == 0
    with store.Store(url) as s:
        study.run_study(s, workers=0, analyze_examination=fake_analyze_examination)
    capsys.readouterr()
    assert main(["study", "stats", "--json", "--db", url]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_lesions"] == 10 and result["patterns"]["arterial_hyper"]["n"] == 8
    assert {"x", "y", "method", "rho", "p_value", "p_exact", "ci95", "n"} <= set(result["correlations"][0])
    assert main(["study", "stats", "--db", url]) == 0
    assert "arterial onset" not in capsys.readouterr().err
    assert main(["study", "export", "--out", str(tmp_path / "l.csv"), "--db", url]) == 0
    assert len(pd.read_csv(tmp_path / "l.csv")) == 10
    rewrite_line(manifest, 3, ",2.0,", ",x,")
    capsys.readouterr()
    assert main(["study", "import", str(manifest), "--db", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ceuskit: error: manifest.csv line 3: ki67 'x' is not a number") and "\n" not in err
    assert main(["study", "run", "--workers", "1", "--scheduler", "tcp://127.0.0.1:1", "--db", url]) == 2
    assert main(["study", "run", "--model", "spline", "--db", url]) == 2
    assert "model 'spline' is not one of" in capsys.readouterr().err
    assert main(["study", "stats", "--db", "nonsense"]) == 2
    assert "not a database URL" in capsys.readouterr().err
