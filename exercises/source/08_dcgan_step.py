# %% [markdown]
# # Exercise 8: one DCGAN training step
#
# A GAN trains two networks against each other. The discriminator $D$ maps an image to the
# probability that it is real; the generator $G$ maps noise $z$ to an image. One training
# step updates each once, with the binary cross-entropy
# $\text{BCE}(p, t) = -\text{mean}\big(t \log p + (1 - t) \log(1 - p)\big)$:
#
# 1. **D step.** Real digits should get $D(x) \to 1$, fakes $D(G(z)) \to 0$:
#    minimise $\ \text{BCE}(D(x), 1) + \text{BCE}(D(G(z)), 0)\ $ with respect to $D$'s weights.
#    The fakes are **detached** (`fake.detach()`): this half of the step must not send
#    gradients into $G$ (and it must not use up $G$'s graph, which the G step still needs).
# 2. **G step.** Make $D$ call the *same* fakes real: minimise $\ \text{BCE}(D(G(z)), 1)\ $
#    with respect to $G$'s weights, the gradient flowing back through $D$ into $G$. (The
#    paper's $\min \log(1 - D(G(z)))$ gives $G$ almost no gradient while $D$ rejects every
#    fake; this "non-saturating" form is what everybody uses.)
#
# Each step starts with the optimizer's `zero_grad()`: gradients *add up* across
# `backward()` calls. Here the two D losses are backpropagated one after the other into
# the same `.grad`, which is what we want; a previous step's gradients are not.
# See [docs/dcgan_training.md](../docs/dcgan_training.md) and `DCGANTrainer.train_step` in
# `tinygan/train/trainer.py`.
# Reference answer: `solutions/dcgan_step.py`.

# %%
import numpy as np

import tinygan as tg
import tinygan.functional as F
from tinygan import exercises as ex
from tinygan.train import DCGANTrainer, TrainConfig

rng = np.random.default_rng(0)
# A tiny DCGAN (widths 4, noise of 8 numbers, batches of 4): the same layers, seconds to run.
config = TrainConfig(batch_size=4, nz=8, ngf=4, ndf=4, seed=0)
unused_digits = np.zeros((4, 28, 28), dtype=np.uint8)  # the trainer wants data; the check feeds batches itself
trainer = DCGANTrainer(config, unused_digits)
print(trainer.generator, trainer.discriminator, sep="\n")

# %% [markdown]
# ## dcgan_step
# `G` and `D` are tinygan modules in training mode, `optimizer_g` and `optimizer_d` their
# Adam optimizers, `real` a float32 batch $(N, 1, 28, 28)$ of digits in $[-1, 1]$ and `z` a
# float32 batch of noise $(N, n_z, 1, 1)$ (both NumPy arrays: wrap them with `tg.tensor`).
# Targets are float32 arrays of ones and zeros, one per image; the loss is
# `F.binary_cross_entropy(prediction, target)`. Compute `fake = G(z)` **once**, use
# `fake.detach()` in the D step and `fake` itself in the G step. Return
# `(loss_d, loss_g)` as Python floats, `loss_d` being the sum of D's two losses.
# (An error "trying to backward through the graph a second time" means the D step used
# `fake` without `.detach()`: its backward went on into G and freed G's graph.)

# %% [exercise]
def dcgan_step(G, D, optimizer_g, optimizer_d, real, z):
    """One D update (real -> 1, detached fakes -> 0), then one G update (fakes -> 1); returns (loss_d, loss_g)."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
# Two identical trainers (same seed, same weights): yours steps with dcgan_step, the other with
# tinygan's own DCGANTrainer.train_step; after each of two steps, the losses and every weight
# and batch-norm statistic of G and D must agree. In the order the step makes them: loss_d
# and D's update first, since G's loss is measured by the updated D.
twice = {1.9: "G's batch-norm running averages moved twice (momentum 0.1: 0.1 + 0.9 x 0.1 = 0.19): "
              "did G run twice? Compute fake = G(z) once, and use it in both halves of the step"}
yours, tinygans = DCGANTrainer(config, unused_digits), DCGANTrainer(config, unused_digits)
for step in range(2):
    real = rng.uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32)
    z = yours.noise.standard_normal((4, config.nz, 1, 1)).astype(np.float32)  # what train_step draws too
    got = ex.answer(dcgan_step, yours.generator, yours.discriminator, yours.optimizer_g, yours.optimizer_d, real, z)
    expected = tinygans.train_step(real)
    loss_d, loss_g = ex.unpack(got, ("loss_d", "loss_g"))
    for name, value, net, hints in (("loss_d", loss_d, "discriminator", None), ("loss_g", loss_g, "generator", twice)):
        ex.expect_close(value, expected[name], f"{name} of step {step}", rtol=1e-5)
        your_state = getattr(yours, net).state_dict()
        for key, right in getattr(tinygans, net).state_dict().items():
            ex.expect_close(your_state[key], right, f"{net} {key} after step {step}", rtol=1e-4, atol=1e-7,
                            factor_hints=hints)
print("OK: dcgan_step gives tinygan's losses and weights over two steps")

# %% [markdown]
# ## What next
# Make the classic mistakes on purpose and read what the check says: forget `detach()`,
# forget `optimizer_d.zero_grad()` (the first step still agrees: why not the second?), or
# use target 0 in the G step. Then run a few hundred steps of your `dcgan_step` on the
# bundled digits (`from tinygan.data import split_bundled`, then
# `(images, _), _ = split_bundled()`, scaled to float32 in $[-1, 1]$ by
# `(images / 127.5 - 1).astype(np.float32)` and shaped $(N, 1, 28, 28)$) and watch the losses.
