"""The peer baseline of `credit bench`: what a user would build instead with quixstreams.

The peer reads the naive baseline's input (the throughput workload, one Confluent-framed record
per message keyed by subject), decodes each record with the platform's own decoder, applies the
platform's banned-data check and catalog rules (`streams.core.banned`, `streams.core.rules`) and keeps a
per-subject sum of the amounts of valid records in quixstreams' RocksDB state (changelogged).
It writes nothing to a store: it is a floor for a peer, not a rival platform.

Why its own virtualenv: quixstreams 3.28 pins confluent-kafka < 2.13, pydantic < 2.14 and
pydantic-settings < 2.16, older than the platform's pins, so both cannot share `.venv`. The
bench makes the peer's environment once (`peer_python`, under `~/.cache/credit-ingest/`, about
15 s from the package index) and runs `python -m credit.bench.peer SPEC` there with the project
on `PYTHONPATH`, so the peer runs the same decoder and rules as the worker.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

PEER_REQUIREMENTS = ("quixstreams==3.28.1", "fastavro==1.13.1", "PyYAML==6.0.3")
PEER_TIME_BOX_S = 45.0
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Tansu's DescribeConfigs answers {} unless the topic was created with its settings, and
# quixstreams refuses an input topic without `retention.ms`
TOPIC_CONFIG = {"retention.ms": str(7 * 24 * 3600 * 1000)}


def peer_python(cache: Path | None = None) -> Path:
    """The peer's interpreter: a virtualenv with `PEER_REQUIREMENTS`, made on first use."""
    from credit.exceptions import BenchError

    home = cache or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    venv = home / "credit-ingest" / ("peer-" + "-".join(PEER_REQUIREMENTS[0].split("==")))
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if stamp.exists() and stamp.read_text() == "\n".join(PEER_REQUIREMENTS):
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                       capture_output=True)  # fmt: skip
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS],
                       check=True, capture_output=True, timeout=600)  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        err = getattr(exc, "stderr", b"") or b""
        raise BenchError(f"cannot make the quixstreams peer's virtualenv in {venv}: "
                         f"{err.decode(errors='replace')[-400:]}") from exc  # fmt: skip
    stamp.write_text("\n".join(PEER_REQUIREMENTS))
    return python


def peer_baseline(bootstrap: str, registry: str, topics: list[str], expected: int,
                  work: Path) -> dict[str, Any]:  # fmt: skip
    """Run the peer over `topics` until it has seen `expected` records (or its time box)."""
    out = work / "peer.json"
    spec = {"group": f"bench-peer-{uuid.uuid4().hex[:6]}", "bootstrap": bootstrap,
            "registry": registry, "topics": topics, "expected": expected,
            "state_dir": str(work / "peer-state"), "out": str(out)}  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    with (work / "logs" / "peer.log").open("ab") as log:
        proc = subprocess.Popen([str(peer_python()), "-m", "credit.bench.peer", json.dumps(spec)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    got = watch_child(proc, out, expected, 90, PEER_TIME_BOX_S)  # join, state, changelogs
    return child_rate(got, expected, "the quixstreams peer", "peer.log") | {"valid": got["valid"]}


def child_rate(got: dict[str, Any], expected: int, who: str, log: str) -> dict[str, Any]:
    """A baseline child's rate and CPU per record from its last report (`watch_child`)."""
    from credit.exceptions import BenchError

    if got["n"] < 2000:
        raise BenchError(f"{who} processed {got['n']} records; see {log}")
    secs = got["last"] - got["first"]
    return {"records": got["n"], "of": expected, "seconds": round(secs, 2),
            "records_per_s": round(got["n"] / secs, 1) if secs > 0 else 0.0,
            "cpu_us_per_record": round((got["cpu"] - got["cpu0"]) / got["n"] * 1e6, 1)}  # fmt: skip


def watch_child(proc: subprocess.Popen[bytes], out: Path, expected: int, start_s: float,
                time_box_s: float) -> dict[str, Any]:  # fmt: skip
    """A baseline child's last progress report (`out`, JSON) once it has seen `expected`
    records, or saw none `start_s` after its start, or ran `time_box_s` from its first
    record; the child is stopped."""
    got: dict[str, Any] = {"n": 0, "first": 0.0, "last": 0.0}
    start_by = time.monotonic() + start_s
    try:
        while proc.poll() is None:
            with contextlib.suppress(FileNotFoundError, ValueError):
                got = json.loads(out.read_text())
            if got["n"] >= expected or (not got["n"] and time.monotonic() > start_by):
                break
            if got["first"] and time.time() > got["first"] + time_box_s:
                break  # time-boxed: the rate over the records it got through
            time.sleep(0.5)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return got


def peer_main(spec: dict[str, Any]) -> int:
    """The peer app (inside its virtualenv): decode, banned data + rules, per-subject sum."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from quixstreams import Application

    from schemas.catalog import default_catalog
    from schemas.codec import AvroDecoder

    catalog = default_catalog()
    registry = SchemaRegistryClient({"url": spec["registry"]})
    decoder = AvroDecoder(lambda sid: registry.get_schema(sid).schema_str or "")
    app = Application(broker_address=spec["bootstrap"], consumer_group=spec["group"],
                      auto_offset_reset="earliest", state_dir=spec["state_dir"],
                      loglevel="WARNING")  # fmt: skip
    progress = _Progress(Path(spec["out"]), spec["expected"])
    by_topic = {c.topic: c for c in catalog}
    for name in spec["topics"]:
        cls = _class_of(by_topic, name)
        topic = app.topic(name, value_deserializer="bytes", key_deserializer="bytes")
        app.dataframe(topic).apply(_step(cls, catalog, decoder, progress), stateful=True)
    app.run()
    return 0


def _class_of(by_topic: dict[str, Any], name: str) -> Any:
    """The catalog class of a topic, or of the class topic a prefixed copy stands for."""
    for topic, cls in by_topic.items():
        if name == topic or name.endswith("." + topic):
            return cls
    raise LookupError(f"no class reads topic {name}")


def _step(cls: Any, catalog: Any, decoder: Any, progress: _Progress) -> Any:
    from streams.core.banned import strip_banned
    from streams.core.rules import validate

    amount = next(f.name for f in cls.fields if f.type == "amount")
    today = dt.date.today()

    def step(value: bytes, state: Any) -> None:
        _, decoded = decoder.decode(value)
        record, banned = strip_banned(decoded, cls.subject_kind)
        valid = not banned and not validate(cls, record, catalog, today)
        if valid:  # the message key is the subject: the state is the subject's
            state.set("sum", state.get("sum", 0.0) + float(str(record.get(amount) or 0)))
        progress.count(valid)

    return step


class _Progress:
    """Counts records and reports to the bench through a JSON file (every 2,000 and at the end)."""

    def __init__(self, out: Path, expected: int) -> None:
        self.out, self.expected = out, expected
        self.state: dict[str, Any] = {"n": 0, "valid": 0, "first": 0.0, "cpu0": 0.0}

    def count(self, valid: bool) -> None:
        s = self.state
        if not s["n"]:
            s["first"], s["cpu0"] = time.time(), _cpu()
        s["n"] += 1
        s["valid"] += int(valid)
        if s["n"] % 2000 == 0 or s["n"] == self.expected:
            tmp = self.out.with_suffix(".tmp")
            tmp.write_text(json.dumps({**s, "last": time.time(), "cpu": _cpu()}))
            tmp.replace(self.out)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


if __name__ == "__main__":
    sys.exit(peer_main(json.loads(sys.argv[1])))
