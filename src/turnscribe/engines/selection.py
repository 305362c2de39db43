"""Which engines a command runs: the real models (with an operator's own Whisper directories and
device) or the scripted fakes. Shared by ``turnscribe serve`` and ``turnscribe transcribe``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping

from turnscribe.engines.model_dir import AsrModelDirs
from turnscribe.types.engine import Engines

log = logging.getLogger("turnscribe")


def build_engines(engine: str, asr_model: str, *, inter_threads: int = 1,
                  model_dirs: AsrModelDirs | None = None, device: str = "cpu") -> Engines:
    if engine == "fake":
        from turnscribe.engines.fake import fake_engines

        return fake_engines()
    from turnscribe.engines.registry import load_engines

    return load_engines(asr_model=asr_model, inter_threads=inter_threads, model_dirs=model_dirs, device=device)


def model_options(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[AsrModelDirs, str]:
    """``--asr-model-dir`` / ``--device`` (else their environment variables), checked before the server
    starts: a bad directory or an absent GPU raises ``ValueError`` / ``RuntimeError`` with the reason,
    which ``main`` turns into exit status 2 (argparse's usage error), never a half-started server."""
    from turnscribe.engines import device as dev
    from turnscribe.engines import model_dir as md

    specs = args.asr_model_dir if args.asr_model_dir else md.specs_from_env(env)
    dirs = md.parse_model_dirs(specs)
    device = args.device or env.get(dev.ENV, "").strip() or dev.DEFAULT_DEVICE
    if args.engine == "real":
        dev.resolve_device(device)
        for info in md.check_all(dirs):
            log.info("operator Whisper model %s", info.describe())
    return dirs, device
