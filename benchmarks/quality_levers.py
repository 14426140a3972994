"""Quality per step of the default DCGAN run under the training levers of issue 13 (a study, not a test).

Each lever is a few `tinygan train` options; each (lever, seed) is a real `tinygan train` run
into its own folder, scored every --quality-every epochs by the judge of `tinygan evaluate`
(FID-MNIST on 1,000 samples, seed 0, and their class histogram).  Every run keeps a moving
average of G's weights (--ema 0.999), so each run's metrics hold two FID curves: the
average's (`fid`) and G's own (`fid_unaveraged`) -- the EMA lever is measured in every run
for the price of one more score.

    python benchmarks/quality_levers.py run --levers baseline ttur --seeds 0 1 --parallel 2
    python benchmarks/quality_levers.py report          # the table, and results/quality_levers.json

With --parallel 2, two runs go side by side, each pinned to one core with one thread, so
their step times are comparable with each other (not with a 2-core run).  The quality of a
run does not depend on its threads: the same seed gives the same digits up to rounding.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine_description, print_table, write_json  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "quality_levers.json"
EMA = "0.999"
# The recipe every lever starts from: the defaults the study began with (Adam lr 2e-4 for both
# networks), spelled out so that a later change of the defaults does not change the baseline,
# plus the weight average that gives every run its second FID curve.  A lever's own options
# come after these and win (argparse keeps the last value).
BASE = ["--lr", "2e-4", "--ema", EMA]

# The levers: `tinygan train` options on top of the defaults.
LEVERS = {
    "baseline": [],
    "ttur": ["--lr", "1e-4", "--lr-d", "4e-4"],       # Heusel et al. 2017 (the rates of SAGAN/BigGAN)
    "smooth": ["--real-label", "0.9"],                 # one-sided label smoothing, Salimans et al. 2016
    "batch32": ["--batch-size", "32"],                 # twice the steps for the same epochs
    "lr2x": ["--lr", "4e-4"],                           # both networks twice as fast (TTUR's other side: G not slower)
    # The baseline's training with a shorter average (~100 steps instead of ~1,000): the last
    # --ema given wins, so this run's "fid" column is the 0.99 average's.
    "ema99": ["--ema", "0.99"],
    # Issue 13 point 2: how a conditional D reads the label (input planes, or projection).
    # (measured with the recipe lr2x found, the new default: --lr 4e-4, and the 0.999 average)
    "cond_planes": ["--conditional", "--lr", "4e-4"],
    "cond_projection": ["--conditional", "--projection", "--lr", "4e-4"],
    "lr2x_ndf32": ["--lr", "4e-4", "--ndf", "32"],   # a narrower D: cheaper steps, less to overfit 4,000 digits
    "cond_planes_lr2e-4": ["--conditional"],           # the conditional run at the old rate (BASE's 2e-4)
}
# Today's default run (seed 0, G's own weights, epoch 80), the figure to reach in <= 60% of the steps.
TODAY_FID = 67.7


def run(levers, seeds, parallel: int, folder: Path, epochs: int) -> None:
    jobs = [(lever, seed) for lever in levers for seed in seeds]
    running = []
    free_cores = list(range(parallel))
    while jobs or running:
        while jobs and free_cores:
            lever, seed = jobs.pop(0)
            core = free_cores.pop(0)
            out = folder / f"{lever}_seed{seed}"
            command = [sys.executable, "-m", "tinygan", "train", "--out", str(out), "--overwrite", "--no-progress",
                       "--seed", str(seed), "--epochs", str(epochs), *BASE, *LEVERS[lever]]
            env = dict(os.environ)
            if parallel > 1:
                env.update(NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
                command = ["taskset", "-c", str(core), *command]
            print(f"start {lever} seed {seed} on core {core}: {' '.join(command)}", flush=True)
            log = open(folder / f"{lever}_seed{seed}.log", "w")
            running.append((subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT),
                            core, lever, seed, time.time(), log))
        time.sleep(5)
        for job in list(running):
            process, core, lever, seed, started, log = job
            if process.poll() is not None:
                log.close()
                print(f"done {lever} seed {seed}: exit {process.returncode}, {(time.time() - started) / 60:.1f} min",
                      flush=True)
                running.remove(job)
                free_cores.append(core)


def read_run(path: Path) -> dict | None:
    metrics = path / "metrics.jsonl"
    if not metrics.exists():
        return None
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    scores = [r for r in records if r.get("kind") == "quality"]
    seconds = {r["step"]: r["seconds"] for r in records if "kind" not in r}
    if not scores:
        return None
    return {"scores": scores, "seconds": seconds, "steps": max(seconds)}


def first_below(scores, key: str, target: float):
    """The first score (a record) whose `key` is at most `target`, or None."""
    return next((s for s in scores if s.get(key) is not None and s[key] <= target), None)


def evenness(histogram) -> float:
    """The rarest class's share of the samples, times 10 (1.0: perfectly even; 0: a digit never drawn)."""
    return 10 * min(histogram) / sum(histogram)


def describe_run(path: Path) -> dict | None:
    result = read_run(path)
    if result is None:
        return None
    lever, seed = path.name.rsplit("_seed", 1)
    scores, seconds = result["scores"], result["seconds"]
    last = scores[-1]
    row = {"lever": lever, "seed": int(seed), "steps": result["steps"], "epochs": last["epoch"],
           "ms_per_step": round(1000 * seconds[result["steps"]] / result["steps"], 1)}
    for name, key in (("ema", "fid"), ("g", "fid_unaveraged")):
        values = [s[key] for s in scores]
        reached = first_below(scores, key, TODAY_FID)
        row.update({
            f"fid_{name}_final": round(values[-1], 1),
            f"fid_{name}_last3": round(sum(values[-3:]) / 3, 1),  # epochs 70-80: less noisy than one score
            f"fid_{name}_best": round(min(values), 1),
            f"steps_to_today_{name}": reached["step"] if reached else None,
            f"minutes_to_today_{name}": round(seconds[reached["step"]] / 60, 1) if reached else None,
        })
    row["evenness_final"] = round(evenness(last["histogram"]), 2)
    row["rarest_commonest_final"] = f"{min(last['histogram'])}/{max(last['histogram'])}"
    row["histogram_final"] = last["histogram"]
    row["curve"] = [(s["step"], round(seconds[s["step"]], 1), s["fid"], s["fid_unaveraged"]) for s in scores]
    return row


def report(folder: Path) -> None:
    rows = [row for row in (describe_run(path) for path in sorted(folder.glob("*_seed*")) if path.is_dir()) if row]
    print_table(rows, ["lever", "seed", "steps", "ms_per_step", "fid_g_final", "fid_g_last3", "fid_g_best",
                       "fid_ema_final", "fid_ema_last3", "fid_ema_best", "steps_to_today_g", "steps_to_today_ema",
                       "minutes_to_today_g", "minutes_to_today_ema", "evenness_final", "rarest_commonest_final"])
    print()
    summary = []
    for lever in dict.fromkeys(row["lever"] for row in rows):
        mine = [row for row in rows if row["lever"] == lever]
        mean = lambda key: round(sum(row[key] for row in mine) / len(mine), 1)
        summary.append({"lever": lever, "seeds": len(mine), "ms_per_step": mean("ms_per_step"),
                        **{key: mean(key) for key in ("fid_g_final", "fid_g_last3", "fid_ema_final", "fid_ema_last3",
                                                      "evenness_final")}})
    print_table(summary, list(summary[0]) if summary else [])
    write_json(str(RESULTS), {"machine": machine_description(), "today_fid": TODAY_FID, "ema": float(EMA),
                              "runs": rows, "summary": summary})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("run")
    start.add_argument("--levers", nargs="+", choices=sorted(LEVERS), default=["baseline"])
    start.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    start.add_argument("--parallel", type=int, default=2)
    start.add_argument("--epochs", type=int, default=80)
    start.add_argument("--folder", type=Path, default=ROOT / "runs" / "levers")
    show = commands.add_parser("report")
    show.add_argument("--folder", type=Path, default=ROOT / "runs" / "levers")
    args = parser.parse_args()
    if args.command == "run":
        args.folder.mkdir(parents=True, exist_ok=True)
        run(args.levers, args.seeds, args.parallel, args.folder, args.epochs)
    else:
        report(args.folder)


if __name__ == "__main__":
    main()
