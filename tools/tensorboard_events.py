#!/usr/bin/env python3
"""TensorBoard's own writer and reader against sluice's event files.

  python tools/tensorboard_events.py fixture     # TensorBoard's writer -> Tests/TrainingTests/Fixtures/tensorboard.events
  python tools/tensorboard_events.py check DIR   # TensorBoard's reader lists the scalars of DIR's event files

Needs `pip install tensorboard` (2.21 made the committed fixture): `make check-tensorboard` sets up a
venv and runs `check` on a short training run.
"""
import os
import sys
from unittest import mock

# The scalars of the fixture; TrainingTests writes the same and compares the bytes.
WALL_TIME = 1700000000.5
EVENTS = [
    (1, [("train/loss", 7.25), ("train/lr", 1e-4)]),
    (2, [("train/loss", 6.5), ("train/lr", 2e-4)]),
    (10, [("eval/mlm_accuracy", 0.125)]),
]


def fixture():
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    out = os.path.join(os.path.dirname(__file__), "..", "Tests", "TrainingTests", "Fixtures")
    folder = os.path.join(out, "tensorboard-writer")
    os.makedirs(folder, exist_ok=True)
    with mock.patch("time.time", return_value=WALL_TIME):  # the version record's time
        writer = EventFileWriter(folder)
        for step, scalars in EVENTS:
            values = [summary_pb2.Summary.Value(tag=tag, simple_value=value) for tag, value in scalars]
            writer.add_event(event_pb2.Event(wall_time=WALL_TIME, step=step, summary=summary_pb2.Summary(value=values)))
        writer.close()
    [name] = os.listdir(folder)
    os.replace(os.path.join(folder, name), os.path.join(out, "tensorboard.events"))
    os.rmdir(folder)
    print("wrote", os.path.normpath(os.path.join(out, "tensorboard.events")))


def check(directory):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(directory, size_guidance={"scalars": 0})
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    if not tags:
        sys.exit(f"{directory}: TensorBoard's reader found no scalars")
    for tag in sorted(tags):
        points = accumulator.Scalars(tag)
        print(f"{tag}: {len(points)} points, steps {points[0].step}..{points[-1].step}, last {points[-1].value:.6g}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["fixture"]:
        fixture()
    elif sys.argv[1:2] == ["check"] and len(sys.argv) == 3:
        check(sys.argv[2])
    else:
        sys.exit(__doc__)
