"""A child trial's first state, copied from its parent's (population-based
training's exploit) through the search's model store.

The parent's current state is the blob its last committed train unit wrote,
``sel/<parent>/state/<unit>`` (``HopScheduler`` names a train unit's output
so), or its own first state ``sel/<parent>/initial`` before any. The driver
reads it from the parameter server, sets the child's learning rate on the
optimizer's rate variable (every other weight and optimizer variable stays
bit for bit the parent's, the step counter included) and stores the result
as the child's first state, exactly as a new trial's is stored.
"""

from __future__ import annotations

from typing import Any

from loxodon.worker.model_state import ModelState


def committed_state_blob(schedule: list[dict[str, Any]], trial_id: int) -> str | None:
    """The blob holding ``trial_id``'s committed state, by the logged schedule:
    its last train unit done (a lost unit's output never commits); None when
    it has trained none."""
    done = [
        u["seq"]
        for u in schedule
        if u["trial_id"] == trial_id and u["kind"] == "train" and u["status"] == "done"
    ]
    return f"sel/{trial_id}/state/{max(done)}" if done else None


def continued_state(model: Any, parent_state: bytes, unit: dict[str, Any]) -> bytes:
    """``parent_state`` with the unit's learning rate, packed for ``model`` (a
    model of the parent's architecture; its own weights are overwritten)."""
    codec = ModelState(model)
    if len(parent_state) != codec.nbytes:
        raise ValueError(
            f"the parent's state has {len(parent_state)} bytes, the child's model "
            f"{codec.nbytes}: a child must have its parent's architecture"
        )
    codec.unpack_eager(parent_state)
    if "learning_rate" in unit:
        model.optimizer.learning_rate = unit["learning_rate"]
    return bytes(ModelState(model).pack_eager())
