"""python -m clipcourse: the doctor and the download command, offline."""

import io
import subprocess
import sys

import pytest

from clipcourse import cli


def test_doctor_reports_and_passes_on_this_machine(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    out = io.StringIO()
    status = cli.doctor(out)
    report = out.getvalue()
    assert status == 0, report
    for needle in ("torch", "openai-clip", "import clip   ok", "device", "weights dirs",
                   "widgets       frontend at", "tiny-shapes   loads", "'red circle'"):
        assert needle in report, f"{needle!r} missing from:\n{report}"


def test_doctor_flags_a_missing_widget_frontend(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(cli, "_widget_frontend", lambda: None)
    out = io.StringIO()
    assert cli.doctor(out) == 1
    assert "PROBLEM: Widgets will not render" in out.getvalue()
    assert "jupyterlab_widgets" in out.getvalue()  # the fix-it line names the package


def test_doctor_flags_a_broken_bundled_model(monkeypatch, tmp_path):
    import clipcourse.models as models

    broken = tmp_path / "tiny-shapes.pt"
    broken.write_bytes(b"truncated")
    monkeypatch.setattr(models, "TINY_SHAPES_PATH", broken)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    out = io.StringIO()
    assert cli.doctor(out) == 1
    assert "PROBLEM: The bundled model does not load" in out.getvalue()


def test_download_offline_exits_non_zero_with_instructions(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CLIPCOURSE_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("CLIPCOURSE_WEIGHTS_DIR", raising=False)
    assert cli.main(["download", "ViT-B/32"]) == 1
    err = capsys.readouterr().err
    assert "CLIPCOURSE_OFFLINE=1" in err and "python -m clipcourse download ViT-B/32" in err


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "clipcourse", "--help"], capture_output=True,
                         text=True)
    assert out.returncode == 0
    for command in ("doctor", "download", "train-tiny", "student", "strip-notebooks"):
        assert command in out.stdout


def test_unknown_command_fails():
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2
