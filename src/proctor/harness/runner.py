"""Run one task: load the benchmark, send what the journal lacks, score, checkpoint, report.

Exit codes: 0 done; 2 bad input (one line on stderr, nothing sent); 3 done but more
errors than ``max_error_rate`` allows (results are written); 4 the results folder cannot
be written (disk full, read-only): the journal up to that point is kept, resumable;
143 stopped by SIGTERM (130 by SIGINT), resumable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from proctor import __version__
from proctor.harness import benchmarks, fewshot, shaping
from proctor.harness.atomicfile import write_atomic
from proctor.harness.benchmarks.base import Benchmark, Sample, judged_by
from proctor.harness.client import Client, Completion, api_key, endpoint_url, format_prompt
from proctor.harness.errors import InputError
from proctor.harness.exchange import ResultsFile
from proctor.harness.journal import FILENAME as JOURNAL_FILENAME
from proctor.harness.journal import Entry, Journal, scores_by_id, utc_now
from proctor.harness.judge import TwoStage, judge_key
from proctor.harness.loglikelihood import EndpointCheckError, check_endpoint, choices_of
from proctor.harness.loglikelihood import evaluate as evaluate_choices
from proctor.harness.metrics import report, summarize
from proctor.harness.progress import FILENAME as PROGRESS_FILENAME
from proctor.harness.progress import Progress
from proctor.harness.sandbox import Sandbox, SandboxError
from proctor.harness.taskfile import TaskSpec
from proctor.harness.untrusted import cut, printable

EXIT_OK, EXIT_BAD_INPUT, EXIT_ERROR_RATE, EXIT_STORAGE = 0, 2, 3, 4
EXIT_SIGNAL = {signal.SIGTERM: 143, signal.SIGINT: 130}
PROGRESS_INTERVAL_S = 1.0
LOG_INTERVAL_S = 10.0
# After SIGTERM, in-flight requests get this long to finish and be journaled; docker
# stop allows 10 s before SIGKILL.
STOP_GRACE_S = 5.0
# Characters of a response (and of its reasoning) kept in the journal. Scoring sees the
# whole text (itself bounded by params.max_response_bytes); the journal keeps this much,
# marked as cut, so one runaway reply cannot make samples.jsonl and report.html huge.
JOURNAL_TEXT_LIMIT = 200_000

Work = tuple[Sample, int]  # (sample, repeat)


def log(message: str) -> None:
    """One event per line on stdout (the task's stdout.log), control characters escaped."""
    print(f"{utc_now()} {printable(message, lines=False)}", flush=True)


def select_subset(samples: list[Sample], limit: int | float | None, seed: int) -> list[Sample]:
    """The seeded subset ``limit_samples`` asks for, in the benchmark's order.

    Args:
        samples: All samples, in a stable order.
        limit: None for all, a count, or a fraction in (0, 1) (rounded, at least 1).
        seed: params.seed: the same seed picks the same samples.
    """
    n = len(samples)
    if limit is None:
        return samples
    k = max(1, round(limit * n)) if isinstance(limit, float) else int(limit)
    if k >= n:
        return samples
    picked = sorted(random.Random(seed).sample(range(n), k))
    return [samples[i] for i in picked]


def plan(samples: list[Sample], n_repeats: int) -> list[Work]:
    """Every (sample, repeat) pair, repeat by repeat, so a partial run covers samples evenly."""
    return [(sample, repeat) for repeat in range(n_repeats) for sample in samples]


def build_entry(
    benchmark: Benchmark,
    sample: Sample,
    repeat: int,
    prompt: list[Any] | str,
    completion: Completion,
) -> Entry:
    """Score a completion (if there is one) into the journal entry for (sample, repeat)."""
    status: Any = "scored"
    error = str(completion.error) if completion.error else None
    extracted: Any = None
    scores: dict[str, float] = {}
    if error is None:
        try:
            score = benchmark.score(sample, completion.text)
            extracted = score.extracted
            scores = {name: float(value) for name, value in score.scores.items()}
        except Exception as e:  # a scorer bug must cost one sample, not the run
            error = printable(f"scoring: {type(e).__name__}: {str(e)[:300]}", lines=False)
    if error is not None:
        status = "error"
    return Entry(
        id=sample.id,
        repeat=repeat,
        status=status,
        prompt=prompt,
        response=cut(completion.text, JOURNAL_TEXT_LIMIT) if completion.error is None else None,
        reasoning=cut(completion.reasoning, JOURNAL_TEXT_LIMIT),
        finish_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        latency_s=round(completion.latency_s, 6),
        attempts=completion.attempts,
        target=sample.target,
        extracted=extracted,
        scores=scores,
        error=error,
        fewshot=sample.meta.get("fewshot"),
    )


@dataclass
class _Prepared:
    benchmark: Benchmark
    key: str | None
    max_tokens: int
    total: int
    pending: list[Work]
    journal: Journal
    blocking: bool  # score() waits on a sandbox: call it from a thread
    loglikelihood: bool  # some samples are scored by their choices' log-likelihoods
    headers: dict[str, str]  # endpoint.headers with their values: never logged
    judged: TwoStage | None = None  # a judge scores the answers (proctor.harness.judge)
    rejected: str | None = None  # why the endpoint refused the request shape (set by _send)


def _bind_sandbox(benchmark: Benchmark, name: str, sandbox: Sandbox | None) -> Benchmark:
    """A code benchmark bound to a ready sandbox; other benchmarks unchanged."""
    if not getattr(benchmark, "needs_sandbox", False):
        return benchmark
    if sandbox is None:
        raise InputError(
            f"benchmark {name!r} runs the model's code: start proctor-eval with --sandbox SOCKET "
            "(inv run starts a sandbox container) or --sandbox local (rlimits only, no isolation)"
        )
    try:
        sandbox.wait_ready()
    except SandboxError as e:
        raise InputError(str(e)) from None
    bound: Benchmark = benchmark.with_sandbox(sandbox)  # type: ignore[attr-defined]
    return bound


def _prepare(spec: TaskSpec, results_dir: Path, sandbox: Sandbox | None) -> _Prepared:
    """Everything that can refuse the task, checked before a single request is sent."""
    key = api_key(spec.endpoint)
    headers = shaping.request_headers(spec.endpoint.headers)
    try:
        benchmark = benchmarks.get(spec.benchmark)
    except KeyError as e:
        raise InputError(e.args[0]) from None
    except ImportError as e:
        raise InputError(f"benchmark {spec.benchmark!r} cannot be imported: {e}") from None
    if spec.endpoint.type not in benchmark.endpoint_types:
        raise InputError(
            f"benchmark {spec.benchmark!r} needs a {' or '.join(benchmark.endpoint_types)} "
            f"endpoint, the task has endpoint.type {spec.endpoint.type!r}"
        )
    benchmark = _bind_sandbox(benchmark, spec.benchmark, sandbox)
    needs_judge = judged_by(benchmark, spec.params)
    if needs_judge:
        judge_key(spec)
    try:
        samples = benchmark.load(spec.params, spec.dataset_dir)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot load benchmark {spec.benchmark!r}: {e}") from None
    ids = {s.id for s in samples}
    if len(ids) != len(samples):
        raise InputError(f"benchmark {spec.benchmark!r} has duplicate sample ids")
    subset = select_subset(samples, spec.params.limit_samples, spec.params.seed)
    multiturn = spec.params.fewshot_as_multiturn and spec.endpoint.type == "chat"
    try:
        subset = fewshot.apply(
            benchmark, subset, fewshot.shots(benchmark, spec.params), spec.params.seed, multiturn
        )
    except (OSError, ValueError) as e:
        raise InputError(f"benchmark {spec.benchmark!r}: {e}") from None
    work = plan(subset, spec.params.n_repeats)
    results_dir.mkdir(parents=True, exist_ok=True)
    journal = Journal(results_dir / JOURNAL_FILENAME, spec.config_hash())
    pending = [(s, r) for s, r in work if (s.id, r) not in journal]
    max_tokens = spec.params.max_tokens or benchmark.default_max_tokens
    blocking = getattr(benchmark, "needs_sandbox", False)
    loglikelihood = any(choices_of(s) for s in subset)
    if loglikelihood and spec.endpoint.type != "completions":
        journal.close()
        raise InputError(
            f"benchmark {spec.benchmark!r} scores by log-likelihood, which needs a completions "
            f"endpoint (echo and logprobs); the task has endpoint.type {spec.endpoint.type!r}"
        )
    judged = None
    if needs_judge:
        try:
            judged = TwoStage(spec, benchmark, results_dir, journal)  # type: ignore[arg-type]
        except InputError:
            journal.close()
            raise
    return _Prepared(
        benchmark,
        key,
        max_tokens,
        len(work),
        pending,
        journal,
        blocking,
        loglikelihood,
        headers,
        judged,
    )


def _results(spec: TaskSpec, prep: _Prepared, started_at: str, wall_s: float) -> dict[str, Any]:
    journal, total = prep.journal, prep.total
    summary = report(journal.tally, total)
    if hasattr(prep.benchmark, "aggregate"):
        per_id = prep.benchmark.aggregate(scores_by_id(journal.path))
        summary["metrics"].update({k: asdict(summarize(v)) for k, v in per_id.items() if v})
    errors = summary["counts"]["errors"]
    exceeded = total > 0 and errors / total > spec.params.max_error_rate
    results = ResultsFile(
        task=spec.name,
        benchmark=spec.benchmark,
        model_id=spec.endpoint.model_id,
        config_hash=spec.config_hash(),
        harness_version=__version__,
        status="error_rate_exceeded" if exceeded else "ok",
        max_error_rate=spec.params.max_error_rate,
        **summary,
        timing={"started_at": started_at, "finished_at": utc_now(), "wall_s": round(wall_s, 3)},
    )
    return results.model_dump(mode="json")


async def run(spec: TaskSpec, results_dir: Path, sandbox: Sandbox | None = None) -> int:
    """Run one task into ``results_dir`` and return the exit code (see the module docstring).

    ``sandbox`` runs the programs of benchmarks that execute the model's code.
    """
    try:
        return await _run(spec, results_dir, sandbox)
    except OSError as e:
        # Disk full, read-only mount, quota: every line journaled so far is intact (a torn
        # last line is dropped on resume), so say what happened and let a resume continue.
        where = e.filename or results_dir
        print(
            f"proctor-eval: cannot write {where}: {e.strerror or e} "
            "(results folder full or read-only); free space or fix the mount, then resume",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_STORAGE


async def _run(spec: TaskSpec, results_dir: Path, sandbox: Sandbox | None) -> int:
    started_at, t0 = utc_now(), time.perf_counter()
    try:
        prep = _prepare(spec, results_dir, sandbox)
    except InputError as e:
        print(f"proctor-eval: {e}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    journal, params = prep.journal, spec.params
    url = urlsplit(endpoint_url(spec.endpoint))._replace(query="", fragment="").geturl()
    log(
        f"start task={spec.name} benchmark={spec.benchmark} model={spec.endpoint.model_id} "
        f"endpoint={url} config_hash={spec.config_hash()} harness={__version__}"
    )
    log(
        f"samples: {prep.total // params.n_repeats} x {params.n_repeats} repeats = "
        f"{prep.total}, {len(prep.pending)} to send, parallelism={params.parallelism}"
    )
    if journal.kept or journal.retrying or journal.discarded:
        log(
            f"resume: skipped {journal.kept} journaled, retrying {journal.retrying} errors, "
            f"dropped {journal.discarded} torn/duplicate lines"
        )
    if prep.loglikelihood and prep.pending:
        try:
            log(await _check_loglikelihood(spec, prep))
        except EndpointCheckError as e:
            journal.close()
            print(f"proctor-eval: {e}", file=sys.stderr, flush=True)
            return EXIT_BAD_INPUT
    if prep.judged is not None:
        judge = prep.judged.judge
        log(
            f"judge: model={judge.model_id} endpoint={urlsplit(judge.url)._replace(query='').geturl()}"
            f"; {prep.judged.answers.kept} journaled answers wait for a verdict only"
        )
    progress = Progress(results_dir / PROGRESS_FILENAME, total=prep.total, done=journal.kept)
    progress.write()
    try:
        stopped_by = await _send(spec, prep, progress)
    finally:
        journal.close()
        progress.write()
    if stopped_by is not None:
        log(
            f"stopped by {stopped_by.name}: {progress.done} done, {progress.failed} failed, "
            f"{prep.total - progress.done - progress.failed} left; resume to continue"
        )
        return EXIT_SIGNAL[stopped_by]
    if prep.rejected is not None:
        print(f"proctor-eval: {prep.rejected}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    results = _results(spec, prep, started_at, time.perf_counter() - t0)
    write_atomic(results_dir / "results.json", json.dumps(results, indent=2) + "\n", fsync=True)
    write_atomic(results_dir / "results.yml", yaml.safe_dump(results, sort_keys=False), fsync=True)
    for name, m in results["metrics"].items():
        log(
            f"metric {name} = {m['value']:.4f} +/- {m['stderr']:.4f} "
            f"(95% CI {m['ci_low']:.4f}-{m['ci_high']:.4f}, n={m['n']})"
        )
    counts = results["counts"]
    log(
        f"finished: status={results['status']} scored={counts['scored']} "
        f"errors={counts['errors']} total={counts['total']} "
        f"wall={results['timing']['wall_s']}s"
    )
    return EXIT_OK if results["status"] == "ok" else EXIT_ERROR_RATE


async def _check_loglikelihood(spec: TaskSpec, prep: _Prepared) -> str:
    """One probe of the endpoint's echoed logprobs (loglikelihood.check_endpoint)."""
    params = spec.params
    async with Client(spec.endpoint, params, max_tokens=1, api_key=prep.key) as client:
        return await check_endpoint(client, params.seed)


async def _send(spec: TaskSpec, prep: _Prepared, progress: Progress) -> signal.Signals | None:
    """Send every pending (sample, repeat); return the signal that stopped it, if any."""
    params, journal, benchmark = spec.params, prep.journal, prep.benchmark
    if not prep.pending:
        return None
    stop = asyncio.Event()
    stopped_by: list[signal.Signals] = []
    error_budget = params.max_error_rate * prep.total
    todo = iter(prep.pending)

    async def generate(client: Client, sample: Sample, repeat: int) -> Entry | None:
        """The sample's entry, or None when the endpoint refused the request's shape."""
        prompt = format_prompt(sample.prompt, spec.endpoint.type, params.system_prompt)
        # Each repeat gets its own seed, or a seeded server would answer it identically.
        if prep.judged is not None:  # answers, then the judge's verdict (harness.judge)
            return await prep.judged.evaluate(
                client, sample, repeat, prompt, seed=params.seed + repeat
            )
        completion = await client.complete(prompt, seed=params.seed + repeat)
        field = shaping.rejected_field(completion.error, params.extra_body)
        if field is not None:
            # Every other sample would be refused the same way: fail the task, once, and
            # journal nothing for it.
            if prep.rejected is None:
                prep.rejected = (
                    f"the endpoint rejected params.extra_body field {field!r} "
                    f"({completion.error}); remove or rename it"
                )
            stop.set()
            return None
        if prep.blocking:
            return await asyncio.to_thread(
                build_entry, benchmark, sample, repeat, prompt, completion
            )
        return build_entry(benchmark, sample, repeat, prompt, completion)

    async def handle(client: Client, item: Work) -> None:
        sample, repeat = item
        entry: Entry | None
        if choices_of(sample):  # one request per choice, scored here
            entry = await evaluate_choices(client, sample, repeat, params.seed + repeat)
        else:
            entry = await generate(client, sample, repeat)
        if entry is None:
            return
        journal.append(entry)
        progress.record(entry.status == "scored")
        if entry.status == "error" and journal.tally.errors > error_budget:
            if not stop.is_set():
                log(
                    f"error budget spent: {journal.tally.errors} errors > "
                    f"max_error_rate {params.max_error_rate} x {prep.total}; "
                    f"last: {entry.error}; stopping"
                )
            stop.set()

    async def worker(client: Client) -> None:
        while not stop.is_set():
            item = next(todo, None)
            if item is None:
                return
            await handle(client, item)

    async def report_progress() -> None:
        last_log = time.monotonic()
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_S)
            progress.write()
            if time.monotonic() - last_log >= LOG_INTERVAL_S:
                last_log = time.monotonic()
                p = progress.snapshot()
                log(
                    f"progress: {p['done']}/{p['total']} done, {p['failed']} failed, "
                    f"{p['rate_per_s']}/s, eta {p['eta_s']}s"
                )

    def on_signal(signum: signal.Signals) -> None:
        if not stopped_by:
            log(f"{signum.name} received: sending nothing new")
            stopped_by.append(signum)
        stop.set()

    loop = asyncio.get_running_loop()
    handled = []
    for signum in EXIT_SIGNAL:
        # Not available off the main thread (a test may run the loop in one): skip then.
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.add_signal_handler(signum, on_signal, signum)
            handled.append(signum)
    reporter = asyncio.create_task(report_progress())
    try:
        client = Client(
            spec.endpoint,
            params,
            max_tokens=prep.max_tokens,
            api_key=prep.key,
            headers=prep.headers,
        )
        async with client as c, prep.judged or contextlib.nullcontext():
            if params.extra_body:
                # One request alone first: an endpoint that refuses an extra_body field
                # then fails the task on one request, not on one per sample in flight.
                await handle(c, next(todo))
            # A few more workers than requests in flight, so a sample backing off from a
            # 429 or a worker busy scoring leaves no connection idle; never one task per
            # sample (100,000 coroutines would cost memory and start-up time).
            n_workers = min(2 * params.parallelism, len(prep.pending))
            workers = [asyncio.create_task(worker(c)) for _ in range(n_workers)]
            stopping = asyncio.create_task(stop.wait())
            finished = asyncio.create_task(
                asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            )
            await asyncio.wait([finished, stopping], return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                await asyncio.wait(workers, timeout=STOP_GRACE_S)
            for task in (*workers, finished, stopping):
                task.cancel()  # no-op for the finished ones
            outcomes = await asyncio.gather(*workers, finished, stopping, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    raise outcome  # a worker's bug: fail loudly rather than hide it
    finally:
        reporter.cancel()
        await asyncio.gather(reporter, return_exceptions=True)
        for signum in handled:
            loop.remove_signal_handler(signum)
    return stopped_by[0] if stopped_by else None


def run_task(spec: TaskSpec, results_dir: Path, sandbox: Sandbox | None = None) -> int:
    """Synchronous run(): the exit code of one task."""
    return asyncio.run(run(spec, results_dir, sandbox))
