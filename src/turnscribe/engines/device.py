"""Where the Whisper models run (``--device cpu|cuda``) and with which CTranslate2 compute type.

Invariants:

* ``cpu`` (the default) keeps int8, what every figure in this repository was measured with.
* ``cuda`` needs a CUDA device visible to CTranslate2; without one ``resolve_device`` raises
  ``DeviceError`` with one sentence saying so (checked before any model loads, so ``turnscribe
  serve --device cuda`` on a CPU-only box exits at once instead of crashing in the loader).
* On ``cuda`` the compute type is the first of ``CUDA_PREFERENCE`` that this GPU supports:
  int8 weights with float16 activations keep the memory of the int8 directories operators ship,
  and fall back to float16 / float32 on GPUs without int8 kernels.
* Only the Whisper models move: Silero VAD and Smart Turn are small ONNX models that stay on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_DEVICE", "DEVICES", "ENV", "DeviceError", "Placement", "resolve_device"]

ENV = "TURNSCRIBE_DEVICE"
DEVICES = ("cpu", "cuda")
DEFAULT_DEVICE = "cpu"
CPU_COMPUTE_TYPE = "int8"
CUDA_PREFERENCE = ("int8_float16", "float16", "float32")


class DeviceError(RuntimeError):
    """The requested device cannot run the models (the message says why)."""


@dataclass(frozen=True, slots=True)
class Placement:
    """A device and the compute type the Whisper models are loaded with there."""

    device: str = DEFAULT_DEVICE
    compute_type: str = CPU_COMPUTE_TYPE


def resolve_device(device: str) -> Placement:
    """The ``Placement`` for ``device`` (``cpu`` or ``cuda``), checked against this machine."""
    name = device.strip().lower()
    if name not in DEVICES:
        raise DeviceError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if name == "cpu":
        return Placement()
    import ctranslate2

    try:
        count = int(ctranslate2.get_cuda_device_count())
    except Exception as exc:  # a broken CUDA install raises from the driver query
        raise DeviceError(f"--device cuda: CTranslate2 cannot query CUDA ({exc}); use --device cpu") from exc
    if count < 1:
        raise DeviceError("--device cuda: no CUDA GPU is visible to CTranslate2 on this machine (driver "
                          "missing, CUDA_VISIBLE_DEVICES empty, or a CPU-only box); use --device cpu")
    supported = set(ctranslate2.get_supported_compute_types("cuda"))
    compute = next((c for c in CUDA_PREFERENCE if c in supported), "default")
    return Placement(device="cuda", compute_type=compute)
