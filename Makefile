# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Everything lands under the project: .venv/ (Python), .cache/ (sbt, Scala libs).
PY ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
SBT := build/sbt
JAR_DIR := python/loxodon/jars
JVM_SOURCES := $(shell find jvm -name '*.scala') build.sbt project/build.properties project/plugins.sbt
export PYSPARK_PYTHON := $(abspath $(PYTHON))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PYTHON))

.PHONY: venv jar examples-jar contract demo test test-jvm test-python cluster-test lint format bench clean

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q -r requirements.lock
	$(PYTHON) -m pip install -q --no-deps -e .
	touch $@

venv: $(VENV)/.installed

$(JAR_DIR)/.built: $(VENV)/.installed $(JVM_SOURCES)
	$(SBT) package
	mkdir -p $(JAR_DIR)
	rm -f $(JAR_DIR)/*.jar
	cp target/scala-2.13/loxodon_2.13-*.jar $(JAR_DIR)/
	touch $@

jar: $(JAR_DIR)/.built

# python/loxodon/contract.json: the facts Scala owns and Python reads (modes, params, op codes).
contract: venv
	$(SBT) "runMain loxodon.Contract"

demo: jar
	$(PYTHON) examples/mnist1d_mlp.py

test: jar test-jvm lint test-python cluster-test

test-jvm: venv
	$(SBT) scalafmtCheckAll examples/scalafmtCheckAll test

lint: venv
	$(VENV)/bin/ruff check python tests bench examples
	$(VENV)/bin/ruff format --check python tests bench examples

test-python: jar examples-jar
	$(VENV)/bin/pytest -q tests

# A master, two workers and the driver, each in a network namespace of its own
# (cluster/); needs root. Everything started is torn down on every exit path.
cluster-test: jar examples-jar
	cluster/cluster.sh run $(abspath $(VENV))/bin/pytest -q tests/cluster

format: venv
	$(SBT) scalafmtAll scalafmtSbt
	$(VENV)/bin/ruff format python tests bench examples
	$(VENV)/bin/ruff check --fix python tests bench examples

examples-jar: venv
	$(SBT) examples/package

bench: jar
	$(PYTHON) bench/ps_roundtrip.py
	$(PYTHON) bench/inference.py
	$(PYTHON) bench/train.py
	$(PYTHON) bench/selection.py
	$(PYTHON) bench/cluster.py

clean:
	rm -rf target project/target $(JAR_DIR) .pytest_cache .ruff_cache
