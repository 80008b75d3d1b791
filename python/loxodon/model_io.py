"""Multi-input and multi-output Keras models over Loxodon's one-vector rows.

Rows travel as one flat float32 ``features`` vector and one flat ``label`` vector,
whatever the model. This module owns the rule that maps them to a model's inputs
and outputs, read by the driver (which checks and flattens) and the workers (which
split): the features are the inputs' flattened values one after another, in
:class:`ModelIO` order; the labels likewise per output, one value (a class index)
for an output whose loss takes class indices (``contract.json`` ``indexLosses``),
the output's flattened size otherwise. The order is Keras's own flattening of the
model's ``input``/``output`` structure: a list in its order, a dict by sorted key.

No TensorFlow import here: the driver's checks need only the model's shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from loxodon.contract import INDEX_LOSSES, loss_name


@dataclass(frozen=True)
class Slot:
    """One model input or output: its name, shape without the batch, and (outputs)
    whether its loss takes class indices."""

    name: str
    shape: tuple[int, ...]
    index_labels: bool = False

    @property
    def width(self) -> int:
        return int(np.prod(self.shape))

    @property
    def label_width(self) -> int:
        return 1 if self.index_labels else self.width


def _ends(
    structure: Any, tensors: list[Any], names: list[str]
) -> tuple[list[tuple[str, Any]], bool]:
    if isinstance(structure, dict):
        return [(k, structure[k]) for k in sorted(structure)], True
    return list(zip(names, tensors, strict=True)), False


def _shape(tensor: Any, what: str) -> tuple[int, ...]:
    dims = tuple(tensor.shape[1:])
    if any(d is None for d in dims):
        raise ValueError(
            f"{what} has shape {tuple(tensor.shape)}: Loxodon needs every dimension but the "
            "batch known (give the Input a full shape)"
        )
    return tuple(int(d) for d in dims)


def _output_losses(loss: Any, names: list[str]) -> list[Any]:
    if isinstance(loss, dict):
        return [loss.get(n) for n in names]
    if isinstance(loss, (list, tuple)):
        return list(loss) if len(loss) == len(names) else [None] * len(names)
    return [loss] * len(names)


class ModelIO:
    """The inputs and outputs of a model, in the order its rows' vectors hold them."""

    def __init__(self, model: Any) -> None:
        inputs = list(getattr(model, "inputs", None) or [])
        outputs = list(getattr(model, "outputs", None) or [])
        self.inputs: list[Slot] = []
        self.outputs: list[Slot] = []
        self.input_dict = self.output_dict = False
        if len(inputs) <= 1 and len(outputs) <= 1:
            # One input and output: rows are reshaped as before, whatever the model's kind.
            self._count = (len(inputs), len(outputs))
            return
        self._count = (len(inputs), len(outputs))
        ins, self.input_dict = _ends(
            getattr(model, "input", None) if inputs else None,
            inputs,
            [str(t.name) for t in inputs],
        )
        outs, self.output_dict = _ends(
            getattr(model, "output", None) if outputs else None,
            outputs,
            list(getattr(model, "output_names", None) or [str(t.name) for t in outputs]),
        )
        losses = _output_losses(getattr(model, "loss", None), [n for n, _ in outs])
        self.inputs = [Slot(n, _shape(t, f"input {n!r}")) for n, t in ins]
        self.outputs = [
            Slot(n, _shape(t, f"output {n!r}"), loss_name(loss) in INDEX_LOSSES)
            for (n, t), loss in zip(outs, losses, strict=True)
        ]

    @property
    def multi(self) -> bool:
        """More than one input or output: rows need splitting."""
        return self._count[0] > 1 or self._count[1] > 1

    # -- driver: user's arguments to flat vectors --------------------------------------
    def input_groups(self, features_col: Any) -> list[list[str]]:
        """``features_col`` as one list of columns per input, in order: a list with one
        entry (a column or a list of columns) per input, or a dict by input name. For a
        one-input model a list of column names keeps meaning "these columns, concatenated"."""
        names = [s.name for s in self.inputs]
        if isinstance(features_col, dict):
            unknown = sorted(set(features_col) - set(names))
            missing = [n for n in names if n not in features_col]
            if unknown or missing:
                raise ValueError(
                    f"features_col: the model's inputs are {names}; "
                    + (f"no input named {unknown}" if unknown else f"no columns for {missing}")
                    + ": give one entry per input name"
                )
            groups = [features_col[n] for n in names]
        elif len(names) == 1:
            groups = [features_col]
        elif isinstance(features_col, (list, tuple)) and len(features_col) == len(names):
            groups = list(features_col)
        else:
            given = len(features_col) if isinstance(features_col, (list, tuple)) else 1
            raise ValueError(
                f"features_col: the model has {len(names)} inputs {names} but {given} column "
                "group(s) were given; pass a list with one entry (a column or a list of "
                "columns) per input, or a dict {input name: column(s)}"
            )
        return [[g] if isinstance(g, str) else list(g) for g in groups]

    def label_columns(self, label_col: Any) -> list[str]:
        """``label_col`` as one column per output, in order (a list, or a dict by name)."""
        names = [s.name for s in self.outputs]
        if isinstance(label_col, dict):
            if sorted(label_col) != sorted(names):
                raise ValueError(
                    f"label_col: the model's outputs are {names}, the dict names "
                    f"{sorted(label_col)}; give one label column per output name"
                )
            return [label_col[n] for n in names]
        if isinstance(label_col, str):
            label_col = [label_col]
        if len(label_col) != len(names):
            raise ValueError(
                f"label_col: the model has {len(names)} outputs {names} but {len(label_col)} "
                "label column(s) were given; pass one per output (a list, or a dict by name)"
            )
        return list(label_col)

    def _parts(self, data: Any, slots: list[Slot], is_dict: bool, what: str) -> list[Any]:
        if isinstance(data, dict):
            names = [s.name for s in slots]
            if sorted(data) != sorted(names):
                raise ValueError(
                    f"{what}: the model's {what} names are {names}, got {sorted(data)}"
                )
            return [data[n] for n in names]
        if isinstance(data, (list, tuple)):
            if len(data) != len(slots):
                raise ValueError(f"{what}: the model has {len(slots)}, got {len(data)} arrays")
            return list(data)
        if len(slots) == 1:
            return [data]
        raise ValueError(f"{what}: the model has {len(slots)}; pass a list or a dict of arrays")

    def flatten_x(self, x: Any) -> np.ndarray:
        """NumPy inputs (a list or dict of arrays) as rows of one float32 vector."""
        parts = [np.asarray(a) for a in self._parts(x, self.inputs, self.input_dict, "inputs")]
        for a, s in zip(parts, self.inputs, strict=True):
            if a.ndim < 1 or int(np.prod(a.shape[1:])) != s.width:
                raise ValueError(
                    f"features_col: rows of input {s.name!r} have shape {a.shape[1:]} but the "
                    f"model's input shape {s.shape} needs {s.width} values"
                )
        if len({len(a) for a in parts}) > 1:
            raise ValueError(f"inputs have different row counts: {[len(a) for a in parts]}")
        return np.concatenate([a.reshape(len(a), -1).astype(np.float32) for a in parts], axis=1)

    def flatten_y(self, y: Any) -> np.ndarray:
        """NumPy labels (a list or dict of arrays) as rows of one float32 vector."""
        parts = [np.asarray(a) for a in self._parts(y, self.outputs, self.output_dict, "outputs")]
        for a, s in zip(parts, self.outputs, strict=True):
            if int(np.prod(a.shape[1:])) != s.label_width:
                raise ValueError(
                    f"label_col: labels of output {s.name!r} have {int(np.prod(a.shape[1:]))} "
                    f"values per row but it needs {s.label_width} ("
                    + ("a class index" if s.index_labels else f"its shape {s.shape}")
                    + ")"
                )
        return np.concatenate([a.reshape(len(a), -1).astype(np.float32) for a in parts], axis=1)

    # -- worker: flat vectors to the model's structures --------------------------------
    def _split(
        self, flat: np.ndarray, widths: list[int], slots: list[Slot], as_dict: bool, shape_of: Any
    ) -> Any:
        if flat.shape[1] != sum(widths):
            raise ValueError(
                f"rows have {flat.shape[1]} values but the model's "
                f"{[s.name for s in slots]} need {sum(widths)}"
            )
        bounds = np.cumsum([0, *widths])
        parts = [
            shape_of(s, flat[:, a:b])
            for s, a, b in zip(slots, bounds[:-1], bounds[1:], strict=True)
        ]
        return {s.name: p for s, p in zip(slots, parts, strict=True)} if as_dict else parts

    def split_x(self, flat: np.ndarray) -> Any:
        return self._split(
            flat,
            [s.width for s in self.inputs],
            self.inputs,
            self.input_dict,
            lambda s, a: np.ascontiguousarray(a).reshape(len(a), *s.shape),
        )

    def split_y(self, flat: np.ndarray) -> Any:
        def shaped(s: Slot, a: np.ndarray) -> np.ndarray:
            if s.index_labels:
                return np.ascontiguousarray(a[:, 0]).astype(np.int32)
            return np.ascontiguousarray(a).reshape(len(a), *s.shape)

        return self._split(
            flat, [s.label_width for s in self.outputs], self.outputs, self.output_dict, shaped
        )

    def flatten_predictions(self, preds: Any) -> np.ndarray:
        parts = self._parts(preds, self.outputs, self.output_dict, "outputs")
        return np.concatenate(
            [np.asarray(p, np.float32).reshape(len(p), -1) for p in parts], axis=1
        )

    def split_predictions(self, flat: np.ndarray) -> Any:
        """Flat prediction rows as Keras's ``predict`` returns them (list or dict)."""
        return self._split(
            flat,
            [s.width for s in self.outputs],
            self.outputs,
            self.output_dict,
            lambda s, a: np.ascontiguousarray(a).reshape(len(a), *s.shape),
        )


def take(tree: Any, idx: Any) -> Any:
    """Rows ``idx`` of an array, or of each array of a list or dict of them."""
    if isinstance(tree, dict):
        return {k: v[idx] for k, v in tree.items()}
    if isinstance(tree, list):
        return [v[idx] for v in tree]
    return tree[idx]


def num_rows(tree: Any) -> int:
    """Rows of an array, or of a list or dict of them."""
    if isinstance(tree, dict):
        tree = next(iter(tree.values()))
    elif isinstance(tree, list):
        tree = tree[0]
    return int(tree.shape[0])
