"""JAX: the backend-neutral training step runs inside a StatelessScope.

Keras' JAX trainer hands `train_step` the values of every variable and expects
new values back. We map all of them (model, every network's optimizer, metrics)
into one `StatelessScope`, run the shared training logic there (its `assign`s are
recorded by the scope), and read the new values out at the end. Each gradient is
a `jax.value_and_grad` of a pure function that maps the differentiated
variables to traced values inside a nested scope.
"""

import threading

import jax
import jax.numpy as jnp
from keras import StatelessScope

_ACTIVE = threading.local()  # the training scopes entered in this thread, innermost last


class _TrainingScope(StatelessScope):
    """A StatelessScope that also remembers which variable has which id."""

    def __init__(self, variables, values):
        super().__init__(state_mapping=list(zip(variables, values)))
        self.variables_by_id = {id(v): v for v in variables}

    def __enter__(self):
        _ACTIVE.__dict__.setdefault("scopes", []).append(self)
        return super().__enter__()

    def __exit__(self, *exc_info):
        _ACTIVE.scopes.pop()
        return super().__exit__(*exc_info)


def value_and_grad(loss_fn, variables):
    """Returns `(loss, aux, grads)` of `loss_fn()` w.r.t. `variables`.

    Variables that `loss_fn` assigns (BatchNorm statistics, seed generators)
    are written back into the enclosing training scope.
    """
    scopes = getattr(_ACTIVE, "scopes", None)
    outer = scopes[-1] if scopes else None
    if outer is None:
        raise RuntimeError(
            "physgan.backend.value_and_grad on JAX must run inside "
            "GenerativeModel.train_step"
        )
    base = dict(outer.state_mapping)
    ids = [id(v) for v in variables]

    def pure(values):
        scope = StatelessScope()
        scope.state_mapping = {**base, **dict(zip(ids, values))}
        with scope:
            loss, aux = loss_fn()
        updates = {
            key: value
            for key, value in scope.state_mapping.items()
            if key not in ids and base.get(key) is not value
        }
        return loss, (aux, updates)

    values = [base[i] for i in ids]
    (loss, (aux, updates)), grads = jax.value_and_grad(pure, has_aux=True)(values)
    for key, value in updates.items():
        outer.add_update((outer.variables_by_id[key], value))
    return loss, aux, grads


def apply_gradients(optimizer, grads, variables):
    """Applies `grads` to `variables` with `optimizer.stateless_apply` on the values of
    the training scope and assigns the new values there: a `LossScaleOptimizer`'s
    `apply` updates inside a `cond`, whose traced values must not leave it."""
    scope = _ACTIVE.scopes[-1]
    optimizer_values = [_current(scope, v) for v in optimizer.variables]
    new_values, new_optimizer_values = optimizer.stateless_apply(
        optimizer_values, grads, [_current(scope, v) for v in variables])
    for variable, value in zip([*variables, *optimizer.variables], [*new_values, *new_optimizer_values]):
        variable.assign(value)


def compiled(fn):
    """Returns `jax.jit(fn)` (Keras variables it reads are traced as constants)."""
    return jax.jit(fn)


def process_index() -> int:
    """Returns this process's index among the processes of a multi-process run."""
    return jax.process_index()


def process_count() -> int:
    """Returns the number of processes of a multi-process run (1 alone)."""
    return jax.process_count()


def input_gradient(fn, inputs):
    """Returns d sum(fn(inputs)) / d inputs (differentiable again)."""
    return jax.grad(lambda x: jnp.sum(fn(x)))(inputs)


class TrainStep:
    """`train_step(state, data)` for Keras' JAX trainer."""

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_values, metrics_values = state
        groups = (
            self.trainable_variables,
            self.non_trainable_variables,
            self.optimizer.variables,
            self.metrics_variables,
        )
        variables = [v for group in groups for v in group]
        values = [
            v
            for group in (trainable, non_trainable, optimizer_values, metrics_values)
            for v in group
        ]
        with _TrainingScope(variables, values) as scope:
            logs = self.run_training_step(data)
        new_state = tuple(
            [_current(scope, v) for v in group] for group in groups
        )
        return logs, new_state


def _current(scope, variable):
    value = scope.get_current_value(variable)
    return variable.value if value is None else value
