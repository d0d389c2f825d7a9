#!/usr/bin/env python
"""MPD WGAN-GP training step: physgan (Keras 3) against the plain framework.

    python benchmarks/train_step.py                     # all backends, 2 threads
    python benchmarks/train_step.py --backends jax --steps 200

For each backend (in its own process) it times, on the same real data (the
public MPD digits, ln amplitude, batch 128):
- physgan's `MPDWGAN` through `Model.fit` (one critic step with gradient
  penalty + one generator step per training step, RMSprop 3e-4), and
- the same step written directly in the framework: TensorFlow (tf.function
  with XLA, nested GradientTape), JAX (jit of a pure step, hand-written
  RMSprop), torch (nn.Module, autograd.grad(create_graph=True), torch.optim).
It prints ms per step for both and their ratio; the target is Keras within
1.15x of plain.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DIGITS = REPO_ROOT.parent / "shared/data/real/physgan/digits_unparameterized.csv"
BATCH, LATENT, LR, RHO, EPS, GP_WEIGHT = 128, 32, 3e-4, 0.9, 1e-7, 10.0


def real_images(n_batches: int):
    import numpy as np

    from physgan.data.mpd import read_digits_csv, to_log_images

    images = to_log_images(read_digits_csv(DIGITS).amplitudes)
    reps = -(-(n_batches * BATCH) // len(images))
    return np.concatenate([images] * reps)[: n_batches * BATCH]


def time_keras(images, steps: int) -> float:
    import physgan

    model = physgan.get_model("mpd_wgan", seed=0)
    model.compile()
    data = {"image": images}
    model.fit(data, batch_size=BATCH, epochs=1, steps_per_epoch=10, verbose=0)  # compile
    start = time.perf_counter()
    model.fit(data, batch_size=BATCH, epochs=1, steps_per_epoch=steps, verbose=0)
    return (time.perf_counter() - start) / steps


def plain_tensorflow(images, steps: int) -> float:
    import tensorflow as tf

    rng = tf.random.Generator.from_seed(0)

    def var(shape):
        limit = (6.0 / (sum(shape[-2:]) if len(shape) == 2 else (shape[0] * shape[1] * (shape[2] + shape[3])))) ** 0.5
        return tf.Variable(rng.uniform(shape, -limit, limit))

    def conv_params(k, cin, cout):
        return [var((k, k, cin, cout)), tf.Variable(tf.zeros(cout))]

    gen = [var((32, 64)), tf.Variable(tf.zeros(64)), var((64, 360)), tf.Variable(tf.zeros(360))]
    gen += conv_params(3, 40, 32) + conv_params(3, 32, 16) + conv_params(3, 16, 8) + conv_params(3, 8, 4) + conv_params(3, 4, 1)
    crit = conv_params(3, 1, 16) + conv_params(3, 16, 32) + conv_params(3, 32, 64)
    crit += [var((256, 128)), tf.Variable(tf.zeros(128)), var((128, 1)), tf.Variable(tf.zeros(1))]
    slots = {id(v): tf.Variable(tf.zeros_like(v)) for v in gen + crit}

    def conv(x, w, b, padding="SAME"):
        return tf.nn.relu(tf.nn.conv2d(x, w, 1, padding) + b)

    def up(x):
        return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)

    def generator(z):
        x = tf.nn.relu(z @ gen[0] + gen[1])
        x = tf.reshape(tf.nn.relu(x @ gen[2] + gen[3]), (-1, 3, 3, 40))
        x = up(conv(x, gen[4], gen[5]))
        x = up(conv(x, gen[6], gen[7]))
        x = conv(x, gen[8], gen[9])
        x = conv(x, gen[10], gen[11], "VALID")
        return conv(x, gen[12], gen[13], "VALID")

    def critic(x):
        x = tf.nn.max_pool2d(conv(x, crit[0], crit[1]), 2, 2, "SAME")
        x = tf.nn.max_pool2d(conv(x, crit[2], crit[3]), 2, 2, "SAME")
        x = tf.reshape(conv(x, crit[4], crit[5]), (-1, 256))
        return tf.nn.relu(x @ crit[6] + crit[7]) @ crit[8] + crit[9]

    def rmsprop(grads, variables):
        for g, v in zip(grads, variables):
            s = slots[id(v)]
            s.assign(RHO * s + (1 - RHO) * g * g)
            v.assign_sub(LR * g / (tf.sqrt(s) + EPS))

    @tf.function(jit_compile=True)
    def step(real):
        with tf.GradientTape() as tape:
            fake = tf.stop_gradient(generator(tf.random.normal((BATCH, LATENT))))
            alpha = tf.random.uniform((BATCH, 1, 1, 1))
            mixed = alpha * real + (1 - alpha) * fake
            with tf.GradientTape() as inner:
                inner.watch(mixed)
                scores = critic(mixed)
            g = inner.gradient(scores, mixed)
            gp = tf.reduce_mean((tf.sqrt(tf.reduce_sum(g * g, axis=[1, 2, 3]) + 1e-12) - 1) ** 2)
            loss = GP_WEIGHT * gp - 0.5 * (tf.reduce_mean(critic(real)) - tf.reduce_mean(critic(fake)))
        rmsprop(tape.gradient(loss, crit), crit)
        with tf.GradientTape() as tape:
            gloss = -tf.reduce_mean(critic(generator(tf.random.normal((BATCH, LATENT)))))
        rmsprop(tape.gradient(gloss, gen), gen)
        return loss, gloss

    batches = [tf.constant(images[i * BATCH : (i + 1) * BATCH]) for i in range(len(images) // BATCH)]
    for b in batches[:10]:
        step(b)
    start = time.perf_counter()
    for i in range(steps):
        out = step(batches[i % len(batches)])
    float(out[0])
    return (time.perf_counter() - start) / steps


def plain_jax(images, steps: int) -> float:
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(0)

    def glorot(key, shape):
        fan = sum(shape[-2:]) if len(shape) == 2 else shape[0] * shape[1] * (shape[2] + shape[3])
        return jax.random.uniform(key, shape, minval=-1, maxval=1) * (6.0 / fan) ** 0.5

    shapes_g = [(32, 64), (64, 360), (3, 3, 40, 32), (3, 3, 32, 16), (3, 3, 16, 8), (3, 3, 8, 4), (3, 3, 4, 1)]
    shapes_c = [(3, 3, 1, 16), (3, 3, 16, 32), (3, 3, 32, 64), (256, 128), (128, 1)]
    keys = jax.random.split(key, 20)
    gen = [(glorot(keys[i], s), jnp.zeros(s[-1])) for i, s in enumerate(shapes_g)]
    crit = [(glorot(keys[10 + i], s), jnp.zeros(s[-1])) for i, s in enumerate(shapes_c)]

    def conv(x, wb, padding="SAME"):
        y = jax.lax.conv_general_dilated(x, wb[0], (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jax.nn.relu(y + wb[1])

    def pool(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "SAME")

    def up(x):
        return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)

    def generator(p, z):
        x = jax.nn.relu(z @ p[0][0] + p[0][1])
        x = jax.nn.relu(x @ p[1][0] + p[1][1]).reshape(-1, 3, 3, 40)
        x = up(conv(x, p[2]))
        x = up(conv(x, p[3]))
        x = conv(conv(x, p[4]), p[5], "VALID")
        return conv(x, p[6], "VALID")

    def critic(p, x):
        x = pool(conv(x, p[0]))
        x = pool(conv(x, p[1]))
        x = conv(x, p[2]).reshape(-1, 256)
        return jax.nn.relu(x @ p[3][0] + p[3][1]) @ p[4][0] + p[4][1]

    def rmsprop(params, grads, state):
        state = jax.tree.map(lambda s, g: RHO * s + (1 - RHO) * g * g, state, grads)
        params = jax.tree.map(lambda p, g, s: p - LR * g / (jnp.sqrt(s) + EPS), params, grads, state)
        return params, state

    def critic_loss(c, g, real, key):
        k1, k2 = jax.random.split(key)
        fake = jax.lax.stop_gradient(generator(g, jax.random.normal(k1, (BATCH, LATENT))))
        alpha = jax.random.uniform(k2, (BATCH, 1, 1, 1))
        mixed = alpha * real + (1 - alpha) * fake
        grad = jax.grad(lambda x: jnp.sum(critic(c, x)))(mixed)
        gp = jnp.mean((jnp.sqrt(jnp.sum(grad**2, axis=(1, 2, 3)) + 1e-12) - 1) ** 2)
        return GP_WEIGHT * gp - 0.5 * (jnp.mean(critic(c, real)) - jnp.mean(critic(c, fake)))

    def generator_loss(g, c, key):
        return -jnp.mean(critic(c, generator(g, jax.random.normal(key, (BATCH, LATENT)))))

    @jax.jit
    def step(state, real):
        g, c, sg, sc, key = state
        key, k1, k2 = jax.random.split(key, 3)
        loss, grads = jax.value_and_grad(critic_loss)(c, g, real, k1)
        c, sc = rmsprop(c, grads, sc)
        gloss, grads = jax.value_and_grad(generator_loss)(g, c, k2)
        g, sg = rmsprop(g, grads, sg)
        return (g, c, sg, sc, key), loss

    zeros = lambda t: jax.tree.map(jnp.zeros_like, t)  # noqa: E731
    state = (gen, crit, zeros(gen), zeros(crit), key)
    batches = [jnp.asarray(images[i * BATCH : (i + 1) * BATCH]) for i in range(len(images) // BATCH)]
    for b in batches[:10]:
        state, loss = step(state, b)
    loss.block_until_ready()
    start = time.perf_counter()
    for i in range(steps):
        state, loss = step(state, batches[i % len(batches)])
    loss.block_until_ready()
    return (time.perf_counter() - start) / steps


def plain_torch(images, steps: int) -> float:
    import torch
    from torch import nn

    torch.manual_seed(0)
    generator = nn.Sequential(
        nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 360), nn.ReLU(), nn.Unflatten(1, (40, 3, 3)),
        nn.Conv2d(40, 32, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
        nn.Conv2d(32, 16, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
        nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3), nn.ReLU(), nn.Conv2d(4, 1, 3), nn.ReLU(),
    )
    critic = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 1),
    )
    opt_g = torch.optim.RMSprop(generator.parameters(), lr=LR, alpha=RHO, eps=EPS)
    opt_c = torch.optim.RMSprop(critic.parameters(), lr=LR, alpha=RHO, eps=EPS)
    batches = [torch.from_numpy(images[i * BATCH : (i + 1) * BATCH]).permute(0, 3, 1, 2).contiguous()
               for i in range(len(images) // BATCH)]

    def step(real):
        with torch.no_grad():
            fake = generator(torch.randn(BATCH, LATENT))
        alpha = torch.rand(BATCH, 1, 1, 1)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
        gp = ((grad.pow(2).sum(dim=(1, 2, 3)) + 1e-12).sqrt() - 1).pow(2).mean()
        loss = GP_WEIGHT * gp - 0.5 * (critic(real).mean() - critic(fake).mean())
        opt_c.zero_grad(set_to_none=True)
        loss.backward()
        opt_c.step()
        gloss = -critic(generator(torch.randn(BATCH, LATENT))).mean()
        opt_g.zero_grad(set_to_none=True)
        gloss.backward()
        opt_g.step()
        return loss

    for b in batches[:10]:
        step(b)
    start = time.perf_counter()
    for i in range(steps):
        loss = step(batches[i % len(batches)])
    float(loss)
    return (time.perf_counter() - start) / steps


PLAIN = {"tensorflow": plain_tensorflow, "jax": plain_jax, "torch": plain_torch}


def child(backend: str, steps: int, threads: int) -> dict:
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
    images = real_images(max(steps, 40) + 10)
    plain = PLAIN[backend](images, steps)
    keras_time = time_keras(images, steps)
    return {"backend": backend, "keras": keras_time, "plain": plain}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=list(PLAIN), choices=list(PLAIN))
    parser.add_argument("--steps", type=int, default=100, help="timed steps per implementation (default: 100)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for every framework (default: 2)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.steps, args.threads)))
        return 0
    print(f"MPD WGAN-GP train step, batch {BATCH}, {args.threads} threads, {args.steps} timed steps")
    print(f"{'backend':<11} {'physgan ms':>10} {'plain ms':>9} {'ratio':>6}  target <= 1.15")
    for backend in args.backends:
        threads = str(args.threads)
        env = {**os.environ, "KERAS_BACKEND": backend, "OMP_NUM_THREADS": threads,
               "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1",
               "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO_ROOT)}
        proc = subprocess.run([sys.executable, __file__, "--child", backend, "--steps", str(args.steps),
                               "--threads", threads], env=env, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(f"{backend:<11} failed:\n{proc.stderr[-3000:]}")
            continue
        r = json.loads(lines[-1][7:])
        ratio = r["keras"] / r["plain"]
        print(f"{backend:<11} {1e3 * r['keras']:>10.1f} {1e3 * r['plain']:>9.1f} {ratio:>6.2f}  "
              f"{'pass' if ratio <= 1.15 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
