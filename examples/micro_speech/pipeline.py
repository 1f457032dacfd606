#!/usr/bin/env python3
"""micro_speech with both halves compiled by microc into one firmware: TFLM's audio front end (raw int16
audio -> int8 mel features, TFLM's signal operators) and its keyword model (features -> silence /
unknown / yes / no), each verified bit for bit against TensorFlow Lite Micro on the same inputs.

The models and the test clips are TFLM's own, read from a tflite-micro checkout you name (nothing is
copied into microc or downloaded): tensorflow/lite/micro/examples/micro_speech/{models,testdata}.
Each one-second clip becomes 49 frames of 30 ms every 20 ms (micro_model_settings.h); the front end runs
them in sequence (its noise estimate carried from frame to frame, from a reset at the clip's start),
the host stacks the 49 feature rows and gives them to the keyword model, on the same firmware (a
project of two models: microc run --model 0 / 1, docs/boards.md). The same firmware also serves the
pipeline of both (model 2, --stack-hop 320): raw audio in, the device runs the 49 frames and stacks
their features itself, scores out; its scores must equal the two-step ones and TFLM's.

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
from microc.pipeline import compile_models  # noqa: E402
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


def build(models: list[Path], board: str, folder: Path) -> dict:
    """One project, one firmware: the front end is model 0, the keyword model model 1, and model 2 the
    pipeline of both (--stack-hop 320: the front end over 49 windows 320 samples apart, its feature rows
    stacked into the keyword model's input, on the device)."""
    compiled = compile_models(models, board, folder, name="micro_speech", stack_hop=STRIDE)
    result = build_project(folder)
    return {"flash_bytes": result.flash_bytes, "ram_bytes": result.ram_bytes,
            "shared_arena_bytes": json.loads((folder / "microc.json").read_text())["shared_arena_bytes"],
            "arena_bytes": [c.metadata["arena_bytes"] for c in compiled],
            "state_bytes": [c.metadata["state_bytes"] for c in compiled]}


def classify(project: Path, audio: np.ndarray) -> dict:
    """The clip twice on the one firmware: each model on its own (the host stacks the 49 feature rows),
    then the pipeline (raw audio in, scores out); every output checked against TFLM."""
    fe = run_project(project, inputs=frames(audio), verify=True, timeout=600, model=0)
    features = np.stack([s.outputs[0].reshape(-1) for s in fe.samples]).reshape(1, -1).astype(np.int8)
    kw = run_project(project, inputs=[[features]], verify=True, model=1)
    window = audio[:(FRAMES - 1) * STRIDE + FRAME].reshape(1, -1)
    chain = run_project(project, inputs=[[window]], verify=True, timeout=600, model="pipeline")
    scores = kw.samples[0].outputs[0].reshape(-1)
    same = np.array_equal(chain.samples[0].outputs[0].reshape(-1), scores)
    return {"label": LABELS[int(np.argmax(scores))], "scores": scores.tolist(),
            "verified": bool(fe.match and kw.match and chain.match and same),
            "front_end_instructions_per_frame": fe.instructions, "keyword_instructions": kw.instructions,
            "pipeline_instructions": chain.instructions}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tflm-root", type=Path, required=True, help="a tflite-micro checkout")
    p.add_argument("--board", default="mps2-an386")
    p.add_argument("--out", type=Path, help="where the project goes (default: a temporary folder)")
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
        project = args.out or Path(tmp) / "micro_speech"
        firmware = build(models, args.board, project)
        results = {clip: classify(project, read_clip(example / "testdata" / f"{clip}_1000ms.wav"))
                   for clip in CLIPS}
    if args.json:
        print(json.dumps({"firmware": firmware, "clips": results}, indent=2))
        return 0 if all(r["verified"] for r in results.values()) else 1
    for clip, r in results.items():
        print(f"{clip + '_1000ms.wav':20} -> {r['label']:8} scores {r['scores']}  "
              f"{'bit-exact with TFLM (models one by one, and the pipeline)' if r['verified'] else 'DIFFERS from TFLM'}")
    r = results[CLIPS[0]]
    print(f"cost on {args.board}: front end {r['front_end_instructions_per_frame'] or '-'} instructions per "
          f"30 ms frame, keyword model {r['keyword_instructions'] or '-'} per inference (a 1 s window), "
          f"pipeline {r['pipeline_instructions'] or '-'} per 1 s of audio (49 frames and the keyword model)")
    print(f"one firmware: flash {firmware['flash_bytes']:,} B, RAM {firmware['ram_bytes']:,} B; shared arena "
          f"{firmware['shared_arena_bytes']:,} B (front end {firmware['arena_bytes'][0]:,}, keyword model "
          f"{firmware['arena_bytes'][1]:,}), front end state {firmware['state_bytes'][0]:,} B")
    return 0 if all(r["verified"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
