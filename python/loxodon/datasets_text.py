"""A text classification task and a tiny keras-hub BERT, made locally (nothing is
downloaded): seeded sentences whose topic is the label, a WordPiece vocabulary of
their words, and the tiny classifier written as a Keras preset
(``save_to_preset``) and as a HuggingFace checkpoint directory (``config.json``,
``model.safetensors``, ``vocab.txt``, ``tokenizer_config.json``, what keras-hub's
``convert_bert`` reads). For tests, examples and ``bench/inference.py``."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

TOPICS = {
    "sport": "goal match team score coach player league season ball win race run "
    "court field keeper pass shot cup fans referee",
    "weather": "rain snow wind storm cloud sun cold warm fog frost heat thunder "
    "forecast humid breeze ice flood dry drizzle sky",
    "food": "bread cheese soup salad pasta rice apple sugar spice bake fry oven "
    "dinner lunch recipe taste sauce butter fruit meal",
}
FILLER = "the a is was and of to in on with it this that today very more some new old we they"
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def vocabulary() -> list[str]:
    """The WordPiece vocabulary: BERT's special tokens, then every word of the task."""
    words = [w for topic in TOPICS.values() for w in topic.split()] + FILLER.split()
    return SPECIAL + sorted(set(words))


def topic_sentences(
    rows: int, seed: int, topic_share: float = 0.35, off_topic: float = 0.25
) -> tuple[list[str], np.ndarray]:
    """``rows`` sentences of 6 to 12 words and their topic (class index): each word
    is a topic word with probability ``topic_share`` (from another topic with
    probability ``off_topic``), else a filler word."""
    rng = np.random.default_rng(seed)
    topics = [t.split() for t in TOPICS.values()]
    filler = FILLER.split()
    labels = rng.integers(0, len(topics), rows)
    texts = []
    for label in labels:
        words = []
        for _ in range(int(rng.integers(6, 13))):
            if rng.random() < topic_share:
                source = label if rng.random() >= off_topic else rng.integers(0, len(topics))
                words.append(str(rng.choice(topics[source])))
            else:
                words.append(str(rng.choice(filler)))
        texts.append(" ".join(words).capitalize())
    return texts, labels.astype(np.int64)


def tiny_bert_classifier(seed: int = 0, sequence_length: int = 16) -> Any:
    """A seeded ``BertTextClassifier`` (2 layers, hidden 32) with its preprocessor
    over :func:`vocabulary`, for the three topics."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary(), lowercase=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary()),
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=32,
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length
    )
    return keras_hub.models.BertTextClassifier(
        backbone, num_classes=len(TOPICS), preprocessor=preprocessor
    )


def pretrained_tiny_bert(seed: int = 1, sequence_length: int = 16) -> Any:
    """:func:`tiny_bert_classifier`, trained by keras-hub's own ``fit`` on seeded
    sentences of clear topics (4 epochs, Adam 3e-3): a stand-in for a pretrained
    checkpoint, whose backbone already tells the topics apart. A transformer this
    small learns the task from scratch only after a plateau whose length varies
    with the seed, too unsteady for comparing fits."""
    import keras

    classifier = tiny_bert_classifier(seed, sequence_length)
    classifier.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    texts, labels = topic_sentences(800, seed=seed + 100, topic_share=0.7, off_topic=0.1)
    classifier.fit(texts, labels, epochs=4, batch_size=32, verbose=0)
    return classifier


def write_hf_bert(backbone: Any, tokenizer: Any, path: str) -> str:
    """``backbone`` (a ``BertBackbone``) and ``tokenizer`` as a HuggingFace BERT
    checkpoint directory at ``path``: the inverse of keras-hub's ``convert_bert``."""
    from safetensors.numpy import save_file

    os.makedirs(path, exist_ok=True)
    layer = backbone.get_layer

    def dense(kernel: Any, inputs_first: bool = True) -> np.ndarray:
        """A Keras kernel, (in, ...) or (..., out), as torch's (out, in)."""
        k = np.asarray(kernel.numpy())
        flat = k.reshape(k.shape[0], -1) if inputs_first else k.reshape(-1, k.shape[-1])
        return np.ascontiguousarray(flat.T)

    def vector(v: Any) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(v.numpy()).reshape(-1))

    tensors = {
        "embeddings.word_embeddings.weight": layer("token_embedding").embeddings.numpy(),
        "embeddings.position_embeddings.weight": layer(
            "position_embedding"
        ).position_embeddings.numpy(),
        "embeddings.token_type_embeddings.weight": layer("segment_embedding").embeddings.numpy(),
        "embeddings.LayerNorm.weight": vector(layer("embeddings_layer_norm").gamma),
        "embeddings.LayerNorm.bias": vector(layer("embeddings_layer_norm").beta),
        "pooler.dense.weight": dense(layer("pooled_dense").kernel),
        "pooler.dense.bias": vector(layer("pooled_dense").bias),
    }
    for i in range(backbone.num_layers):
        block = layer(f"transformer_layer_{i}")
        attn = block._self_attention_layer
        prefix = f"encoder.layer.{i}."
        for name, part in (("query", attn.query_dense), ("key", attn.key_dense)):
            tensors[f"{prefix}attention.self.{name}.weight"] = dense(part.kernel)
            tensors[f"{prefix}attention.self.{name}.bias"] = vector(part.bias)
        tensors[f"{prefix}attention.self.value.weight"] = dense(attn.value_dense.kernel)
        tensors[f"{prefix}attention.self.value.bias"] = vector(attn.value_dense.bias)
        tensors[f"{prefix}attention.output.dense.weight"] = dense(
            attn.output_dense.kernel, inputs_first=False
        )
        tensors[f"{prefix}attention.output.dense.bias"] = vector(attn.output_dense.bias)
        norms = {
            "attention.output.LayerNorm": block._self_attention_layer_norm,
            "output.LayerNorm": block._feedforward_layer_norm,
        }
        for name, norm in norms.items():
            tensors[f"{prefix}{name}.weight"] = vector(norm.gamma)
            tensors[f"{prefix}{name}.bias"] = vector(norm.beta)
        inter, out = block._feedforward_intermediate_dense, block._feedforward_output_dense
        tensors[f"{prefix}intermediate.dense.weight"] = dense(inter.kernel)
        tensors[f"{prefix}intermediate.dense.bias"] = vector(inter.bias)
        tensors[f"{prefix}output.dense.weight"] = dense(out.kernel)
        tensors[f"{prefix}output.dense.bias"] = vector(out.bias)
    save_file(
        {k: np.asarray(v, np.float32) for k, v in tensors.items()}, f"{path}/model.safetensors"
    )
    config = {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": backbone.vocabulary_size,
        "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads,
        "hidden_size": backbone.hidden_dim,
        "intermediate_size": backbone.intermediate_dim,
        "max_position_embeddings": backbone.max_sequence_length,
        "type_vocab_size": backbone.num_segments,
    }
    with open(f"{path}/config.json", "w") as f:
        json.dump(config, f, indent=2)
    with open(f"{path}/tokenizer_config.json", "w") as f:
        json.dump({"do_lower_case": tokenizer.lowercase, "tokenizer_class": "BertTokenizer"}, f)
    with open(f"{path}/vocab.txt", "w") as f:
        f.write("\n".join(tokenizer.get_vocabulary()) + "\n")
    return path
