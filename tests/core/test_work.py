"""Engine requests know their kind and answer themselves with the same tags."""

import numpy as np

from turnscribe.core.work import EngineRequest, WorkKind
from turnscribe.types.engine import AsrRequest, AsrResult, TurnRequest, VadRequest

AUDIO = np.zeros(512, dtype=np.float32)


def test_kind_and_answer():
    reqs = [EngineRequest("s", 2, 1, VadRequest(object(), AUDIO)), EngineRequest("s", 2, 2, AsrRequest(AUDIO)),
            EngineRequest("s", 2, 3, TurnRequest(AUDIO))]
    assert [r.kind for r in reqs] == [WorkKind.VAD, WorkKind.ASR, WorkKind.TURN]
    res = reqs[1].answer(AsrResult())
    assert (res.stream_id, res.generation, res.seq, res.value) == ("s", 2, 2, AsrResult())
