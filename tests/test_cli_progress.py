"""The progress bar of long commands: on stderr only for a terminal (or when asked), never in
the JSON on stdout, and closed before an error line."""

from __future__ import annotations

import json

from personalization.cli import main
from tests.test_cli_recommend import shop  # noqa: F401 - the module's database fixture


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_and_export_draw_a_bar_when_asked(shop, tmp_path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setenv("PERSONALIZATION_PROGRESS", "1")
    code, out, err = run(capsys, "--db", shop, "train-recommender", "--algo", "svd")
    assert code == 0 and json.loads(out)["model_id"]
    assert "[" + "#" * 30 + "] 100%" in err and err.endswith("\n")
    target = tmp_path / "lists.csv"
    code, out, err = run(capsys, "--db", shop, "export-recommendations", "--out", target)
    assert code == 0 and json.loads(out)["rows"] > 0 and target.exists()
    assert "customers scored" in err and "100%" in err


def test_no_bar_for_scripts_and_errors_start_their_own_line(shop, tmp_path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.delenv("PERSONALIZATION_PROGRESS", raising=False)
    code, out, err = run(capsys, "--db", shop, "train-recommender", "--algo", "svd")
    assert code == 0 and err == ""
    monkeypatch.setenv("PERSONALIZATION_PROGRESS", "1")
    code, out, err = run(
        capsys, "--db", shop, "export-recommendations", "--out", tmp_path / "x.txt"
    )
    assert code == 2 and out == ""
    assert err.splitlines()[-1].startswith("error: ")
