"""Where the upload of a NumPy fit's rows goes (issue 20): one fit of the synthetic
set per mode, timed phase by phase on the driver (placement, layout, stage launch,
each chunk's build and PUT) and in the workers (their ``receive_*`` timings), beside
a raw put_blob / get_blob loop of the same bytes against a bare parameter server.

    PYTHONPATH=$PWD/python .venv/bin/python bench/upload_probe.py --modes single,averaging

Prints the numbers; the driver JVM's GC log goes to ``--gc-log``. Not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def synthetic(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows like ``bench/train.py``'s ``synthetic_arrays`` (Gaussian features)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 784), dtype=np.float32)
    return x, rng.integers(0, 10, rows).astype(np.int64)


def mlp() -> Any:
    import keras

    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Probe:
    """Patches the driver's upload to record when each chunk was gathered, written and
    sent (PUTs run in the upload's sender thread, beside the next chunk's build)."""

    def __init__(self) -> None:
        from loxodon import driver_data
        from loxodon.ps_client import PSClient

        self.events: list[tuple[str, float, float]] = []  # (what, start, seconds)
        self.t0 = 0.0
        original_tables, original_write = driver_data._tables, driver_data._write
        original_put = PSClient.put_blob
        fit_class = driver_data.DriverFit
        original_start, original_layout = fit_class.start, fit_class.layout_json
        probe = self

        def tables(*args: Any, **kw: Any) -> Any:
            stream = original_tables(*args, **kw)
            while True:
                began = time.perf_counter()
                try:
                    table = next(stream)
                except StopIteration:
                    return
                probe.record("gather", began)
                yield table

        def write(*args: Any, **kw: Any) -> Any:
            began = time.perf_counter()
            out = original_write(*args, **kw)
            probe.record("ipc write", began)
            return out

        def put_blob(self: Any, name: str, data: Any) -> None:
            began = time.perf_counter()
            original_put(self, name, data)
            probe.record("put", began)

        def start(self: Any, job: Any, overlap: bool = False) -> None:
            began = time.perf_counter()
            original_start(self, job, overlap)
            probe.record("start+upload", began)

        def layout_json(self: Any) -> str:
            began = time.perf_counter()
            out = original_layout(self)
            probe.record("layout_json", began)
            return out

        driver_data._tables = tables
        driver_data._write = write
        PSClient.put_blob = put_blob
        driver_data.DriverFit.start = start
        driver_data.DriverFit.layout_json = layout_json

    def record(self, what: str, began: float) -> None:
        self.events.append((what, began - self.t0, time.perf_counter() - began))

    def summary(self) -> str:
        lines = []
        for what in ("layout_json", "gather", "ipc write", "put", "start+upload"):
            times = [s for w, _, s in self.events if w == what]
            if times:
                first = min(b for w, b, _ in self.events if w == what)
                lines.append(
                    f"  {what}: n={len(times)} total={sum(times):.2f} s "
                    f"max={max(times):.3f} first at {first:.2f} s"
                )
        return "\n".join(lines)


def raw_loop(spark: Any, x: np.ndarray, chunk_bytes: int) -> None:
    """PUT then GET the bytes of ``x`` in chunks of ``chunk_bytes`` on a bare server."""
    from loxodon.parameter_server import start_parameter_server

    flat = x.reshape(-1).view(np.uint8)
    pieces = [flat[i : i + chunk_bytes] for i in range(0, len(flat), chunk_bytes)]
    with start_parameter_server(spark, 1, 1) as server, server.connect() as ps:
        for trial in range(2):
            began = time.perf_counter()
            for k, piece in enumerate(pieces):
                ps.put_blob(f"raw/{trial}/{k}", memoryview(piece))
            put_s = time.perf_counter() - began
            out, began = None, time.perf_counter()
            for k in range(len(pieces)):
                out, _ = ps.get_blob_into(f"raw/{trial}/{k}", out)
            get_s = time.perf_counter() - began
            mb = flat.nbytes / 1e6
            print(
                f"raw loop {trial}: {len(pieces)} x {chunk_bytes >> 20} MiB, PUT {put_s:.2f} s "
                f"({mb / put_s:.0f} MB/s), GET {get_s:.2f} s ({mb / get_s:.0f} MB/s)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--modes", default="single,averaging")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gc-log", default="/tmp/upload-gc.log")
    parser.add_argument("--no-raw", action="store_true")
    args = parser.parse_args()

    import loxodon
    from loxodon import driver_data

    spark = loxodon.spark_session(
        f"local[{args.workers}]",
        app_name="upload-probe",
        **{
            "spark.driver.memory": "6g",
            "spark.driver.extraJavaOptions": f"-Xlog:gc:file={args.gc_log}",
        },
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        loxodon.warm_up(spark, args.workers)
        x, y = synthetic(args.rows)
        chunk_mib = driver_data.CHUNK_BYTES >> 20
        print(f"rows {x.nbytes / 1e6:.0f} MB, chunk {chunk_mib} MiB", flush=True)
        if not args.no_raw:
            raw_loop(spark, x, driver_data.CHUNK_BYTES)
        probe = Probe()
        for mode in args.modes.split(","):
            model = loxodon.SparkModel(
                mlp(), mode=mode, num_workers=1 if mode == "single" else args.workers
            )
            probe.events.clear()
            probe.t0 = began = time.perf_counter()
            model.fit(x, y, epochs=1, batch_size=128, verbose=0)
            seconds = time.perf_counter() - began
            print(f"{mode}: fit {seconds:.2f} s", flush=True)
            print(probe.summary(), flush=True)
            for w in model.last_fit.get("workers", []):
                timings = {k: round(v, 2) for k, v in w.get("timings", {}).items()}
                print(f"  worker {w.get('partition', '?')}: {timings}", flush=True)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
