#!/usr/bin/env python3
"""micro_speech with both halves compiled by microc: TFLM's audio front end (raw int16 audio -> int8 mel
features, TFLM's signal operators) and its keyword model (features -> silence / unknown / yes / no),
each verified bit for bit against TensorFlow Lite Micro on the same inputs.

The models and the test clips are TFLM's own, read from a tflite-micro checkout you name (nothing is
copied into microc or downloaded): tensorflow/lite/micro/examples/micro_speech/{models,testdata}.
Each one-second clip becomes 49 frames of 30 ms every 20 ms (micro_model_settings.h); the front end runs
them in sequence (its noise estimate carried from frame to frame, from a reset at the clip's start),
the host stacks the 49 feature rows and gives them to the keyword model.

    .venv/bin/python examples/micro_speech/pipeline.py --tflm-root ../ext/tflite-micro [--board host] [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from microc.build import build_project  # noqa: E402
from microc.errors import MicrocError  # noqa: E402
from microc.pipeline import compile_model  # noqa: E402
from microc.runner.session import run_project  # noqa: E402

EXAMPLE = Path("tensorflow/lite/micro/examples/micro_speech")
LABELS = ["silence", "unknown", "yes", "no"]  # micro_model_settings.h
RATE, FRAME, STRIDE, FRAMES = 16000, 480, 320, 49  # 30 ms frames every 20 ms
CLIPS = ["yes", "no", "silence", "noise"]


def read_clip(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise MicrocError(f"{path.name}: expected 16 kHz mono 16-bit audio")
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16)


def frames(audio: np.ndarray) -> list[list[np.ndarray]]:
    """The front end's samples: one [1, 480] frame each, in time order."""
    if audio.size < (FRAMES - 1) * STRIDE + FRAME:
        raise MicrocError(f"a clip of {audio.size} samples is shorter than {FRAMES} frames")
    return [[audio[i * STRIDE:i * STRIDE + FRAME].reshape(1, FRAME)] for i in range(FRAMES)]


def build(model: Path, board: str, folder: Path) -> Path:
    compile_model(model, board, folder)
    build_project(folder)
    return folder


def classify(front: Path, keyword: Path, audio: np.ndarray) -> dict:
    fe = run_project(front, inputs=frames(audio), verify=True, timeout=600)
    features = np.stack([s.outputs[0].reshape(-1) for s in fe.samples]).reshape(1, -1).astype(np.int8)
    kw = run_project(keyword, inputs=[[features]], verify=True)
    scores = kw.samples[0].outputs[0].reshape(-1)
    return {"label": LABELS[int(np.argmax(scores))], "scores": scores.tolist(),
            "verified": bool(fe.match and kw.match),
            "front_end_instructions_per_frame": fe.instructions, "keyword_instructions": kw.instructions}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tflm-root", type=Path, required=True, help="a tflite-micro checkout")
    p.add_argument("--board", default="mps2-an386")
    p.add_argument("--out", type=Path, help="where the two projects go (default: a temporary folder)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    example = args.tflm_root / EXAMPLE
    models = [example / "models" / "audio_preprocessor_int8.tflite", example / "models" / "micro_speech_quantized.tflite"]
    for path in models:
        if not path.exists():
            print(f"pipeline.py: error: {path} not found (is {args.tflm_root} a tflite-micro checkout?)",
                  file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        front, keyword = (build(m, args.board, out / name) for m, name in zip(models, ("front_end", "keyword")))
        results = {clip: classify(front, keyword, read_clip(example / "testdata" / f"{clip}_1000ms.wav"))
                   for clip in CLIPS}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0 if all(r["verified"] for r in results.values()) else 1
    for clip, r in results.items():
        print(f"{clip + '_1000ms.wav':20} -> {r['label']:8} scores {r['scores']}  "
              f"{'bit-exact with TFLM' if r['verified'] else 'DIFFERS from TFLM'}")
    r = results[CLIPS[0]]
    print(f"cost on {args.board}: front end {r['front_end_instructions_per_frame'] or '-'} instructions per "
          f"30 ms frame, keyword model {r['keyword_instructions'] or '-'} per inference (a 1 s window)")
    return 0 if all(r["verified"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
