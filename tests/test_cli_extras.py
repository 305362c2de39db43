"""The server install is lean: ``turnscribe eval`` without the eval extra says which extra it needs."""

from __future__ import annotations

import importlib.util

import pytest

from turnscribe.cli import main


def test_eval_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jiwer" else real(name, *a))
    with pytest.raises(SystemExit) as e:
        main(["eval", "wer", "--data", "nowhere"])
    assert e.value.code == 2 and "pip install 'turnscribe[eval]'" in capsys.readouterr().err


def test_the_server_imports_none_of_the_eval_libraries() -> None:
    import subprocess
    import sys

    code = ("import sys, turnscribe.server.app, turnscribe.server.connection, turnscribe.engines.registry; "
            "print(sorted(m for m in ('jiwer', 'matplotlib', 'whisper_normalizer', 'wordfreq') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.model
def test_the_models_load_and_a_file_transcribes_with_the_client_libraries_blocked(shared) -> None:
    """pipecat, LiveKit and deepgram-sdk are test/example extras: the server must not need them
    (the Smart Turn model ships in the package), so importing any of them here fails loudly."""
    import subprocess
    import sys

    clip = shared / "data/wer/clean/ast_agent-alreadyon.wav"
    code = ("import sys\n"
            "for m in ('pipecat', 'livekit', 'deepgram', 'jiwer', 'matplotlib'):\n"
            "    sys.modules[m] = None  # an import of it raises ImportError\n"
            "from turnscribe.cli import main\n"
            f"sys.exit(main(['transcribe', '--no-progress', {str(clip)!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "agent" in proc.stdout.lower()
