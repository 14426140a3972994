"""Activation functions: their shapes, their derivatives, and two ways they stop learning.

What it shows
  1. ReLU, LeakyReLU (slopes 0.1 and 0.2), Sigmoid and Tanh, and their derivatives.
     The derivatives are not typed in: each curve is x.grad after y.sum().backward(),
     i.e. what tinygan's hand-written backward (tinygan/ops/activation.py) returns.
  2. The dying ReLU: one unit whose bias was knocked far negative.  Every input now lands
     on ReLU's flat side, so the gradient reaching its weight is exactly 0 and it never
     recovers.  The same unit with a LeakyReLU still gets a (small) gradient and climbs back.
  3. The vanishing gradient: in a 10-layer sigmoid network the gradient reaching the first
     layer is about a million times smaller than at the last, because every sigmoid
     multiplies it by sigma'(z) <= 1/4.  Tanh and ReLU (with matching initialisation) keep it.

Run:  python examples/activations.py [--out DIR]
"""
from __future__ import annotations

import tinygan as tg

import sys

import numpy as np

import tinygan.functional as F
import tinygan.nn as nn
from _plotting import COLOURS, example_parser, heading, new_figure, output_folder, save_figure
from tinygan.optim import SGD

# name -> (label, function on tensors); the derivatives come from backward, never from a formula.
ACTIVATIONS = {
    "relu": ("ReLU", F.relu),
    "leaky_relu_0.1": ("LeakyReLU(0.1)", lambda z: F.leaky_relu(z, 0.1)),
    "leaky_relu_0.2": ("LeakyReLU(0.2)", lambda z: F.leaky_relu(z, 0.2)),
    "sigmoid": ("Sigmoid", F.sigmoid),
    "tanh": ("Tanh", F.tanh),
}
PROBE_POINTS = (-2.0, 0.0, 2.0)


# ---------------------------------------------------------------------- 1. curves and derivatives
def value_and_derivative(activation, z: np.ndarray):
    """(g(z), g'(z)) elementwise, the derivative read from autograd.

    Summing the outputs makes d(sum)/dz_i = g'(z_i): each output depends on its own input only.
    """
    inputs = tg.tensor(z, requires_grad=True)
    outputs = activation(inputs)
    outputs.sum().backward()
    return outputs.data.copy(), inputs.grad.copy()


# ReLU and LeakyReLU coincide for z > 0: ReLU is drawn wide and solid underneath, the leaky
# ones dashed and dotted on top, so all three stay visible where they agree.
LINE_STYLES = {"relu": {"linewidth": 4, "alpha": 0.6}, "leaky_relu_0.1": {"linestyle": "--"},
               "leaky_relu_0.2": {"linestyle": ":", "linewidth": 2}}


def plot_curves(folder):
    z = np.linspace(-5, 5, 401, dtype=np.float64)
    figure, (row,) = new_figure(1, 2, panel_size=(4.6, 3.4))
    values_axes, derivative_axes = row
    for name, (label, activation) in ACTIVATIONS.items():
        values, derivatives = value_and_derivative(activation, z)
        style = LINE_STYLES.get(name, {})
        values_axes.plot(z, values, color=COLOURS[name], label=label, **style)
        derivative_axes.plot(z, derivatives, color=COLOURS[name], label=label, **style)
    values_axes.set(title="g(z)", xlabel="z", ylim=(-1.5, 3))
    derivative_axes.set(title="g'(z), from tinygan's backward", xlabel="z", ylim=(-0.1, 1.1))
    for axes in row:
        axes.axhline(0, color="black", linewidth=0.5)
        axes.grid(alpha=0.3)
    values_axes.legend(fontsize=8)
    return save_figure(figure, folder, "activations.png")


def derivative_table():
    """g'(z) at a few points, from backward; note what each op chose at the kink z = 0."""
    table = {}
    for name, (label, activation) in ACTIVATIONS.items():
        _, derivatives = value_and_derivative(activation, np.array(PROBE_POINTS))
        table[name] = dict(zip(PROBE_POINTS, derivatives.tolist()))
        print(f"  {label:15s}" + "".join(f"  g'({z:+.0f}) = {d:.4f}" for z, d in table[name].items()))
    return table


# ---------------------------------------------------------------------- 2. dying ReLU
def train_one_unit(activation, steps: int, learning_rate: float, seed: int = 0) -> dict:
    """Fit y = activation(w x + b) to t = 2x + 0.5 on x in [0, 1], starting from a dead bias.

    w = 1, b = -3 puts every pre-activation w x + b in [-3, -2]: as if one large update
    had pushed the bias negative.  Returns the loss, weight and weight gradient per step.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(64, 1)).astype(np.float32)
    target = tg.tensor(2 * x + 0.5)
    inputs = tg.tensor(x)
    unit = nn.Linear(1, 1)
    unit.weight.data[...] = 1.0
    unit.bias.data[...] = -3.0
    optimizer = SGD(unit.parameters(), lr=learning_rate)
    history = {"loss": [], "weight": [], "weight_gradient": []}
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.mse_loss(activation(unit(inputs)), target)
        loss.backward()
        history["loss"].append(loss.item())
        history["weight"].append(unit.weight.data.item())
        history["weight_gradient"].append(unit.weight.grad.item())
        optimizer.step()
    return history


def dying_relu(folder, steps: int):
    runs = {name: train_one_unit(ACTIVATIONS[name][1], steps, learning_rate=0.5)
            for name in ("relu", "leaky_relu_0.1", "leaky_relu_0.2")}
    figure, (row,) = new_figure(1, 3, panel_size=(3.8, 3.2))
    for name, history in runs.items():
        label, colour = ACTIVATIONS[name][0], COLOURS[name]
        row[0].plot(history["loss"], color=colour, label=label)
        row[1].plot(history["weight"], color=colour, label=label)
        row[2].plot(np.abs(history["weight_gradient"]), color=colour, label=label)
    row[0].set(title="loss (MSE)", xlabel="step", yscale="log")
    row[1].set(title="weight w", xlabel="step")
    row[2].set(title="|dL/dw| from backward", xlabel="step")
    row[2].set_yscale("symlog", linthresh=1e-3)  # linear near 0, so an exact 0 can be drawn
    for axes in row:
        axes.grid(alpha=0.3)
    row[0].legend(fontsize=8)
    path = save_figure(figure, folder, "dying_relu.png", title="A unit whose bias was pushed to -3")
    for name, history in runs.items():
        print(f"  {ACTIVATIONS[name][0]:15s} step 0: dL/dw = {history['weight_gradient'][0]: .6f}   "
              f"w: {history['weight'][0]:.3f} -> {history['weight'][-1]:.3f}   "
              f"loss: {history['loss'][0]:.3f} -> {history['loss'][-1]:.5f}")
    return runs, path


# ---------------------------------------------------------------------- 3. vanishing gradients
def deep_network(name: str, depth: int, width: int) -> nn.Sequential:
    """depth x (Linear, activation) and a Linear head, each weight ~ N(0, gain^2 / fan_in).

    The gain (nn.init.calculate_gain) is the best-known scale for each activation, so
    the sigmoid network is given every chance; its gradients shrink anyway.
    """
    modules = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
    gain = nn.init.calculate_gain(name)
    layers = []
    for _ in range(depth):
        linear = nn.Linear(width, width)
        nn.init.normal_(linear.weight, 0.0, gain / np.sqrt(width))
        nn.init.zeros_(linear.bias)
        layers += [linear, modules[name]()]
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def gradient_norms_per_layer(name: str, depth: int = 10, width: int = 64, batch: int = 128) -> list:
    """||dL/dW|| of each hidden layer (first to last), L the MSE against random targets.

    Same seed for every activation: the three networks see the same inputs and targets.
    """
    tg.manual_seed(0)
    network = deep_network(name, depth, width)
    rng = np.random.default_rng(1)
    inputs = tg.tensor(rng.standard_normal((batch, width)).astype(np.float32))
    targets = tg.tensor(rng.standard_normal((batch, 1)).astype(np.float32))
    F.mse_loss(network(inputs), targets).backward()
    hidden_linears = [module for module in network if isinstance(module, nn.Linear)][:depth]
    return [float(np.linalg.norm(linear.weight.grad)) for linear in hidden_linears]


def vanishing_gradients(folder, depth: int = 10):
    norms = {name: gradient_norms_per_layer(name, depth) for name in ("sigmoid", "tanh", "relu")}
    figure, ((axes,),) = new_figure(1, 1, panel_size=(5.5, 3.8))
    layers = np.arange(1, depth + 1)
    for name, values in norms.items():
        axes.semilogy(layers, values, "o-", color=COLOURS[name], label=ACTIVATIONS[name][0])
    axes.set(xlabel="layer (1 = nearest the input)", ylabel="||dL/dW|| (log scale)", xticks=layers,
             title=f"Gradient reaching each layer of a {depth}-layer network")
    axes.grid(alpha=0.3, which="both")
    axes.legend()
    path = save_figure(figure, folder, "vanishing_gradients.png")
    print("  ||dL/dW|| per layer, first to last:")
    for name, values in norms.items():
        print(f"  {ACTIVATIONS[name][0]:8s}" + " ".join(f"{value:8.1e}" for value in values)
              + f"   first / last = {values[0] / values[-1]:.1e}")
    return norms, path


def main(argv=None) -> dict:
    parser = example_parser("activations", __doc__)
    parser.add_argument("--steps", type=int, default=100, help="training steps of the dying-ReLU demo")
    args = parser.parse_args(argv)
    folder = output_folder(args.out)

    heading("1. Activations and their derivatives (from backward)")
    curves_path = plot_curves(folder)
    derivatives = derivative_table()
    print("  At the kink z = 0 ReLU and LeakyReLU take the left-hand slope (0 and a), as torch does.")

    heading("2. Dying ReLU: a unit pushed into the negative side")
    runs, dying_path = dying_relu(folder, args.steps)
    relu_gradients = runs["relu"]["weight_gradient"]
    print(f"  ReLU's weight gradient was exactly 0 at all {len(relu_gradients)} steps: "
          f"{all(gradient == 0.0 for gradient in relu_gradients)}")

    heading("3. Vanishing gradients through a deep sigmoid stack")
    norms, vanishing_path = vanishing_gradients(folder)
    return {"derivatives": derivatives, "dying_relu": runs, "gradient_norms": norms,
            "figures": [curves_path, dying_path, vanishing_path]}


if __name__ == "__main__":
    main(sys.argv[1:])
