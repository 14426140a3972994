"""Batch normalisation: what it does to the numbers, why it helps training, and its two modes.

What it shows
  1. Per-channel statistics before and after a BatchNorm1d: four features that all have
     mean 50 but standard deviations 1, 5, 20 and 100 come out with mean 0 and std 1.
  2. Training the same small network with and without BatchNorm1d on those raw features.
     Without it the loss stalls, and the example finds out why.  Not the ReLUs: almost
     every first-layer unit is on for some samples and off for others.  The cause is the
     offset the features share: at mean 50 and standard deviations 1 to 100 every input
     column is almost parallel to the constant one, so the first layer's problem is
     ill-conditioned (condition number ~2e4 even after rescaling each column, which is
     all a per-weight step size such as Adam's can undo).  Centring the inputs alone fixes
     it, rescaling them alone does not; a BatchNorm after the first Linear removes the
     offset from the forward pass and from the gradient.
  3. Why batch norm helps, in today's terms (Santurkar et al. 2018): along the gradient
     direction the loss and its gradient change far less with BatchNorm than without --
     the landscape is smoother, so a step of the size taken is predictable.
  4. Training mode versus evaluation mode.  In training the layer uses the batch's own
     mean and variance and updates running estimates,
         running = (1 - momentum) * running + momentum * batch statistic   (momentum = 0.1),
     with the *unbiased* variance.  In evaluation it uses those running estimates, so a
     sample's output no longer depends on which other samples share its batch.

Run:  python examples/batch_norm.py [--out DIR] [--steps N]
"""
from __future__ import annotations

import tinygan as tg

import sys

import numpy as np

import tinygan.functional as F
import tinygan.nn as nn
from _plotting import example_parser, heading, new_figure, output_folder, print_matrix, save_figure
from tinygan.images import moving_average
from tinygan.optim import Adam

FEATURE_MEAN = 50.0
FEATURE_STDS = np.array([1.0, 5.0, 20.0, 100.0])


def shifted_batch(rng: np.random.Generator, size: int):
    """Raw features x = 50 + std * z and a target that is a nonlinear function of the z.

    The target is easy to learn from standardised features; the difficulty is only the
    scale and offset of the raw ones -- exactly what batch normalisation removes.
    """
    z = rng.standard_normal((size, len(FEATURE_STDS)))
    features = FEATURE_MEAN + FEATURE_STDS * z
    target = np.sin(z[:, :1]) + 0.5 * z[:, 1:2] - 0.5 * np.abs(z[:, 2:3]) + 0.3 * z[:, 3:4]
    return tg.tensor(features.astype(np.float32)), tg.tensor(target.astype(np.float32))


# ---------------------------------------------------------------------- 1. before and after
def statistics_before_and_after(folder, batch_size: int = 256):
    features, _ = shifted_batch(np.random.default_rng(0), batch_size)
    layer = nn.BatchNorm1d(len(FEATURE_STDS))  # weight 1, bias 0: the output is exactly xhat
    normalised = layer(features).data
    stats = {"mean_before": features.data.mean(axis=0), "std_before": features.data.std(axis=0),
             "mean_after": normalised.mean(axis=0), "std_after": normalised.std(axis=0)}
    print_matrix("rows: mean before, std before, mean after, std after; one column per feature",
                 np.stack(list(stats.values())), decimals=3)

    figure, (row,) = new_figure(1, 2, panel_size=(4.2, 3.4))
    channels = np.arange(len(FEATURE_STDS))
    for axes, statistic in zip(row, ("mean", "std")):
        for offset, when, colour in ((-0.2, "before", "tab:gray"), (0.2, "after", "tab:blue")):
            values = stats[f"{statistic}_{when}"]
            bars = axes.bar(channels + offset, values, width=0.4, color=colour,
                            label="before" if when == "before" else "after BatchNorm1d")
            axes.bar_label(bars, labels=[f"{value:.3g}" if abs(value) > 5e-4 else "0" for value in values],
                           fontsize=7)
        axes.set(title=f"per-channel {statistic}", xlabel="channel", xticks=channels)
        axes.axhline(0, color="black", linewidth=0.5)
    row[0].set_ylim(-2, 80)  # head room for the legend
    row[1].set(yscale="log", ylim=(0.3, 400))  # stds from 1 to 100 side by side
    row[0].legend(fontsize=8, loc="upper center", ncol=2)
    return stats, save_figure(figure, folder, "batch_norm_statistics.png")


# ---------------------------------------------------------------------- 2. training with and without
def small_network(use_batch_norm: bool) -> nn.Sequential:
    tg.manual_seed(0)  # the same Linear weights in both networks
    layers = []
    for fan_in, fan_out in ((len(FEATURE_STDS), 32), (32, 32)):
        layers.append(nn.Linear(fan_in, fan_out))
        if use_batch_norm:
            layers.append(nn.BatchNorm1d(fan_out))
        layers.append(nn.ReLU())
    layers.append(nn.Linear(32, 1))
    return nn.Sequential(*layers)


def held_out_loss(network, transform=lambda x: x) -> float:
    """MSE on 1000 fresh samples, the network in evaluation mode (BatchNorm uses running estimates)."""
    network.eval()
    with tg.no_grad():
        features, target = shifted_batch(np.random.default_rng(2), 1000)
        loss = F.mse_loss(network(transformed(features, transform)), target).item()
    network.train()
    return loss


def refresh_running_estimates(network, rng, passes: int = 50) -> None:
    """Forward passes in training mode with no weight update: only the running estimates move."""
    with tg.no_grad():
        for _ in range(passes):
            network(shifted_batch(rng, 64)[0])


# The inputs the raw network is also tried on, to find what makes it stall.  Each is a
# fixed function of the raw features (the true mean 50 and stds, no batch statistics).
INPUT_TRANSFORMS = {
    "raw": lambda x: x,
    "scaled only (x / std)": lambda x: x / FEATURE_STDS,
    "centred only (x - 50)": lambda x: x - FEATURE_MEAN,
    "standardised ((x - 50) / std)": lambda x: (x - FEATURE_MEAN) / FEATURE_STDS,
}


def transformed(features, transform) -> tg.Tensor:
    return tg.tensor(np.asarray(transform(features.data), dtype=np.float32))


def train(use_batch_norm: bool, steps: int, learning_rate: float = 0.01, transform=INPUT_TRANSFORMS["raw"],
          probe_every: int = 0) -> dict:
    """Adam on fresh batches of 64: the per-step losses and the held-out loss (eval mode).

    The running estimates are averages over the last ~10 batches, and those batches went
    through *older* weights.  While the weights still move, the estimates lag behind them,
    so the held-out loss is measured twice: right after training, and again after the
    estimates were refreshed with the final weights.  With `probe_every`, the loss
    landscape along the gradient is measured every that many steps (`along_the_gradient`).
    """
    rng = np.random.default_rng(1)  # the same batches for both networks
    network = small_network(use_batch_norm)
    optimizer = Adam(network.parameters(), lr=learning_rate)
    losses, probes = [], []
    for step in range(steps):
        features, target = shifted_batch(rng, 64)
        features = transformed(features, transform)
        if probe_every and step % probe_every == 0:
            probes.append(along_the_gradient(network, features, target))
        optimizer.zero_grad()
        loss = F.mse_loss(network(features), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    result = {"losses": losses, "held_out_loss": held_out_loss(network, transform), "network": network}
    if probes:
        result["probes"] = {key: np.array([probe[key] for probe in probes]) for key in probes[0]}
        result["probe_steps"] = np.arange(0, steps, probe_every)
    if use_batch_norm:
        refresh_running_estimates(network, rng)
        result["held_out_loss_refreshed"] = held_out_loss(network, transform)
    return result


def with_and_without(folder, steps: int):
    runs = {label: train(use_batch_norm, steps, probe_every=max(1, steps // 15)) for label, use_batch_norm in
            (("without BatchNorm", False), ("with BatchNorm1d", True))}
    figure, (row,) = new_figure(1, 2, panel_size=(4.2, 3.2), sharey=True)
    window = 20
    for axes, (label, run), colour in zip(row, runs.items(), ("tab:gray", "tab:blue")):
        losses = run["losses"]
        axes.plot(losses, color=colour, alpha=0.35, linewidth=0.8)
        axes.plot(moving_average(losses, window), color=colour)
        axes.set(title=f"{label}\nheld-out loss (eval mode) {run['held_out_loss']:.3f}", xlabel="step",
                 yscale="log")
        axes.grid(alpha=0.3, which="both")
    row[0].set_ylabel(f"MSE loss (raw and {window}-step average)")
    path = save_figure(figure, folder, "batch_norm_training.png",
                       title="Same network, same data (features: mean 50, std 1 to 100), Adam lr=0.01")
    for label, run in runs.items():
        losses = run["losses"]
        print(f"  {label:18s} training loss, first {window} steps {np.mean(losses[:window]):7.3f}, "
              f"last {window} {np.mean(losses[-window:]):.3f};  held-out (eval mode) {run['held_out_loss']:.3f}")
    refreshed = runs["with BatchNorm1d"]["held_out_loss_refreshed"]
    print(f"  The running estimates lag weights that were still changing: after 50 forward passes with the\n"
          f"  final weights (no updates) the held-out loss with BatchNorm1d is {refreshed:.3f}.")
    return runs, path


# ---------------------------------------------------------------------- 2b. why the raw network stalls
def unit_states(network, features) -> dict:
    """Per hidden ReLU over a batch: on for every sample, off for every one (dead), or mixed."""
    states = {}
    activations = features
    with tg.no_grad():
        for layer in network:
            activations = layer(activations)
            if isinstance(layer, nn.ReLU):
                on = activations.data > 0
                states[f"layer {len(states) + 1}"] = {"mixed": int(np.sum(on.any(0) & ~on.all(0))),
                                                      "always on": int(np.sum(on.all(0))),
                                                      "dead": int(np.sum(~on.any(0)))}
    return states


def linear_fit_loss() -> float:
    """The held-out MSE of the best affine function of the raw features (least squares)."""
    features, target = shifted_batch(np.random.default_rng(6), 5000)
    design = np.c_[features.data.astype(np.float64), np.ones(len(target.data))]
    coefficients, *_ = np.linalg.lstsq(design, target.data.astype(np.float64), rcond=None)
    features, target = shifted_batch(np.random.default_rng(2), 1000)  # the held-out batch
    fitted = np.c_[features.data.astype(np.float64), np.ones(len(target.data))] @ coefficients
    return float(np.mean((fitted - target.data) ** 2))


def conditioning(transform, samples: int = 20000) -> float:
    """Condition number of the first layer's input second moments E[u u^T], u = (inputs, 1).

    Each column is first rescaled to unit root-mean-square: a per-weight step size (Adam's)
    can undo that much, so what remains is what no such optimiser can fix.  A Linear
    layer's curvature in its weights is E[u u^T] times a positive factor per output.
    """
    features, _ = shifted_batch(np.random.default_rng(7), samples)
    inputs = np.asarray(transform(features.data), dtype=np.float64)
    u = np.c_[inputs, np.ones(samples)]
    moments = u.T @ u / samples
    scale = np.sqrt(np.diag(moments))
    return float(np.linalg.cond(moments / np.outer(scale, scale)))


def shift_invariance(shift: float = FEATURE_MEAN) -> dict:
    """Loss and first-layer weight gradient for inputs x and x - shift, with and without BatchNorm."""
    features, target = shifted_batch(np.random.default_rng(8), 64)
    result = {}
    for label, use_batch_norm in (("without BatchNorm", False), ("with BatchNorm1d", True)):
        network = small_network(use_batch_norm)
        runs = []
        for inputs in (features.data, features.data - shift):
            network.zero_grad()
            loss = F.mse_loss(network(tg.tensor(inputs)), target)
            loss.backward()
            runs.append((loss.item(), network[0].weight.grad.copy()))
        (loss_a, grad_a), (loss_b, grad_b) = runs
        result[label] = {"loss": (loss_a, loss_b),
                         "gradient_change": float(np.abs(grad_a - grad_b).max() / np.abs(grad_a).max())}
    return result


def why_the_raw_network_stalls(runs: dict, steps: int) -> dict:
    raw = runs["without BatchNorm"]
    held_out_features, held_out_target = shifted_batch(np.random.default_rng(2), 1000)
    states = unit_states(raw["network"], held_out_features)
    target_variance = float(held_out_target.data.var())
    linear = linear_fit_loss()
    print("  After training, over 1000 held-out samples, the raw network's hidden ReLUs are:")
    for layer, counts in states.items():
        print(f"    {layer}: {counts['mixed']} of 32 on for some samples and off for others, "
              f"{counts['always on']} always on, {counts['dead']} dead")
    print(f"  So the first layer is not stuck 'all on or all off': that is not the cause.  (The dead\n"
          f"  second-layer units were killed by the first, huge steps, when the loss was "
          f"~{np.mean(raw['losses'][:3]):.0f}.)")
    print(f"  Held-out loss {raw['held_out_loss']:.3f}: below the target's variance {target_variance:.3f}, but worse\n"
          f"  than the best *linear* fit of the raw features, {linear:.3f}.  The network can represent\n"
          f"  much better; the optimiser does not find it.")
    print("  The same network, no BatchNorm, trained on fixed transformations of the inputs:")
    variants = {}
    for name, transform in INPUT_TRANSFORMS.items():
        run = raw if name == "raw" else train(False, steps, transform=transform)
        variants[name] = {"held_out_loss": run["held_out_loss"], "condition_number": conditioning(transform)}
        print(f"    {name:30s} held-out loss {run['held_out_loss']:6.3f};  condition number of the first layer's\n"
              f"    {'':30s} inputs after per-column rescaling {variants[name]['condition_number']:9.3g}")
    print("  Centring alone fixes it; scaling alone does not.  The shared offset makes every input column\n"
          "  nearly parallel to the constant one (for feature 0: 50 / sqrt(50^2 + 1) = 0.9998), so moving a\n"
          "  weight mostly shifts every sample's pre-activation alike; the differences between samples, which\n"
          "  carry the target, are a small correction.  No per-weight step size undoes that.")
    invariance = shift_invariance()
    for label, values in invariance.items():
        print(f"  {label:18s} inputs x and x - 50: loss {values['loss'][0]:.4f} vs {values['loss'][1]:.4f}, "
              f"first-layer gradient changes by {100 * values['gradient_change']:.3g}% of its largest entry")
    print("  BatchNorm after the first Linear subtracts each unit's batch mean, offset included, so the\n"
          "  network (and its gradient, which has zero mean over the batch) cannot see the shift at all.")
    return {"unit_states": states, "target_variance": target_variance, "linear_fit_loss": linear,
            "inputs": variants, "shift_invariance": invariance}


# ---------------------------------------------------------------------- 3. the landscape along the gradient
# How far a probe moves all the weights together (Euclidean distance in parameter space).
# An Adam step at lr 0.01 moves each of the ~1,250 weights by up to 0.01: about 0.35 in all.
PROBE_DISTANCES = (0.05, 0.1, 0.2, 0.4)


def along_the_gradient(network, features, target) -> dict:
    """Step the weights a distance t down the gradient and see how much loss and gradient change.

    Santurkar et al. (2018) measured exactly this: the variation of the loss over a range
    of steps along the gradient, and how far the gradient moves ("gradient
    predictiveness": if it barely changes, the step it suggests stays good).  The weights
    and BatchNorm's running estimates are put back afterwards.
    """
    parameters = list(network.parameters())
    buffers = [(module, module.running_mean.copy(), module.running_var.copy(), module.num_batches_tracked)
               for module in network if isinstance(module, nn.BatchNorm1d)]
    saved = [parameter.data.copy() for parameter in parameters]

    def loss_and_gradient():
        network.zero_grad()
        loss = F.mse_loss(network(features), target)
        loss.backward()
        return loss.item(), np.concatenate([parameter.grad.ravel() for parameter in parameters]).astype(np.float64)

    loss, gradient = loss_and_gradient()
    norm = np.linalg.norm(gradient)
    losses, changes = [loss], []
    for distance in PROBE_DISTANCES:
        offset = 0
        for parameter, original in zip(parameters, saved):
            step = -distance * gradient[offset:offset + original.size].reshape(original.shape) / norm
            parameter.data[...] = original + step.astype(original.dtype)
            offset += original.size
        moved_loss, moved_gradient = loss_and_gradient()
        losses.append(moved_loss)
        changes.append(np.linalg.norm(moved_gradient - gradient) / distance)
    for parameter, original in zip(parameters, saved):
        parameter.data[...] = original
    for module, mean, var, count in buffers:
        module.running_mean[...], module.running_var[...], module.num_batches_tracked = mean, var, count
    network.zero_grad()
    return {"loss": loss, "loss_range": max(losses) - min(losses), "gradient_change_per_distance": max(changes),
            "gradient_norm": norm}


def smoothness_figure(folder, runs: dict):
    figure, (row,) = new_figure(1, 2, panel_size=(4.4, 3.4))
    for label, colour in (("without BatchNorm", "tab:gray"), ("with BatchNorm1d", "tab:blue")):
        run = runs[label]
        steps, probes = run["probe_steps"], run["probes"]
        row[0].plot(steps, probes["loss_range"], color=colour, marker=".", label=label)
        row[1].plot(steps, probes["gradient_change_per_distance"], color=colour, marker=".", label=label)
    row[0].set(title="loss variation along the gradient\nmax - min of the loss over the probe",
               xlabel="training step", yscale="log")
    row[1].set(title="gradient change per unit step\nmax |g(w - t g/|g|) - g(w)| / t",
               xlabel="training step", yscale="log")
    for axes in row:
        axes.grid(alpha=0.3, which="both")
    row[0].legend(fontsize=8)
    return save_figure(figure, folder, "batch_norm_smoothness.png",
                       title=f"Steps of t = {', '.join(map(str, PROBE_DISTANCES))} down the gradient "
                             "(Santurkar et al. 2018)")


# ---------------------------------------------------------------------- 4. train and eval modes
def first_update(batch_size: int = 32) -> dict:
    """One training step of a fresh layer, and the update rule it must have followed."""
    features, _ = shifted_batch(np.random.default_rng(3), batch_size)
    layer = nn.BatchNorm1d(len(FEATURE_STDS))
    layer(features)
    x = features.data.astype(np.float64)
    result = {"running_mean": layer.running_mean.copy(), "running_var": layer.running_var.copy(),
              # running starts at mean 0 and var 1; the variance is the unbiased one (ddof=1)
              "expected_mean": 0.9 * 0 + 0.1 * x.mean(axis=0),
              "expected_var": 0.9 * 1 + 0.1 * x.var(axis=0, ddof=1),
              "biased_alternative": 0.9 * 1 + 0.1 * x.var(axis=0, ddof=0)}
    print_matrix("running_mean after one batch", result["running_mean"])
    print_matrix("running_var after one batch", result["running_var"])
    print_matrix("  0.9 * 1 + 0.1 * unbiased batch variance", result["expected_var"])
    print_matrix("  (with the biased variance it would be)", result["biased_alternative"])
    return result


def running_statistics(folder, steps: int = 60, batch_size: int = 32):
    rng = np.random.default_rng(4)
    layer = nn.BatchNorm1d(len(FEATURE_STDS))
    means, variances = [], []
    for _ in range(steps):
        features, _ = shifted_batch(rng, batch_size)
        layer(features)  # training mode: normalise with the batch, update the running estimates
        means.append(layer.running_mean.copy())
        variances.append(layer.running_var.copy())
    means, variances = np.array(means), np.array(variances)

    figure, (row,) = new_figure(1, 2, panel_size=(4.2, 3.2), sharey=True)
    step = np.arange(1, steps + 1)
    true_variances = FEATURE_STDS ** 2
    for channel in range(len(FEATURE_STDS)):
        row[0].plot(step, means[:, channel] / FEATURE_MEAN, label=f"channel {channel}")
        row[1].plot(step, variances[:, channel] / true_variances[channel], label=f"channel {channel}")
    for axes, what in zip(row, ("running_mean / 50", "running_var / true variance")):
        axes.plot(step, 1 - 0.9 ** step, "k--", linewidth=1, label="1 - 0.9^step")
        axes.set(title=what, xlabel="training step")
        axes.grid(alpha=0.3)
    row[0].legend(fontsize=8)
    path = save_figure(figure, folder, "batch_norm_running_stats.png")
    print_matrix(f"running_mean after {steps} steps", layer.running_mean, decimals=2)
    print_matrix(f"running_var after {steps} steps (true: {true_variances.tolist()})", layer.running_var,
                 decimals=1)
    return layer, path


def train_versus_eval(layer: nn.BatchNorm1d) -> dict:
    """The same sample in two different batches: train mode disagrees with itself, eval mode doesn't."""
    rng = np.random.default_rng(5)
    sample, _ = shifted_batch(rng, 1)
    others_a, _ = shifted_batch(rng, 7)
    others_b, _ = shifted_batch(rng, 7)
    batch_a, batch_b = tg.cat([sample, others_a]), tg.cat([sample, others_b])
    results = {}
    for mode in ("train", "eval"):
        layer.train(mode == "train")
        with tg.no_grad():  # (the layer still updates its running estimates in train mode)
            results[mode] = (layer(batch_a).data[0], layer(batch_b).data[0])
    layer.eval()
    with tg.no_grad():
        alone = layer(sample).data[0]  # eval mode works on a batch of one; training mode could not
    by_hand = (sample.data[0] - layer.running_mean) / np.sqrt(layer.running_var + layer.eps)
    print_matrix("train mode: the sample's output in batch A", results["train"][0])
    print_matrix("train mode: the same sample in batch B", results["train"][1])
    print_matrix("eval mode:  in batch A", results["eval"][0])
    print_matrix("eval mode:  in batch B", results["eval"][1])
    print_matrix("eval mode:  alone", alone)
    print_matrix("(x - running_mean) / sqrt(running_var + eps), by hand", by_hand)
    return {"train": results["train"], "eval": results["eval"], "eval_alone": alone, "by_hand": by_hand}


def main(argv=None) -> dict:
    parser = example_parser("batch_norm", __doc__)
    parser.add_argument("--steps", type=int, default=400, help="training steps per network (default 400)")
    args = parser.parse_args(argv)
    folder = output_folder(args.out)

    heading("1. Per-channel statistics before and after BatchNorm1d (training mode)")
    stats, statistics_path = statistics_before_and_after(folder)

    heading("2. Training with and without batch normalisation")
    runs, training_path = with_and_without(folder, args.steps)
    diagnosis = why_the_raw_network_stalls(runs, args.steps)

    heading("3. A smoother landscape: the loss and gradient along the gradient direction")
    smoothness = {label: {key: values for key, values in run["probes"].items()} for label, run in runs.items()}
    for label, probes in smoothness.items():
        print(f"  {label:18s} median over training: the loss varies by {np.median(probes['loss_range']):8.3g}, "
              f"the gradient by {np.median(probes['gradient_change_per_distance']):8.3g} per unit of distance")
    smoothness_path = smoothness_figure(folder, runs)

    heading("4. Running estimates (training mode) and evaluation mode")
    update = first_update()
    layer, running_path = running_statistics(folder)
    modes = train_versus_eval(layer)
    return {"statistics": stats, "training": runs, "diagnosis": diagnosis, "smoothness": smoothness,
            "first_update": update, "modes": modes,
            "figures": [statistics_path, training_path, smoothness_path, running_path]}


if __name__ == "__main__":
    main(sys.argv[1:])
