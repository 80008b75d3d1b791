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

.PHONY: venv jar jars examples-jar contract demo test test-jvm test-python cluster-test test-matrix \
	matrix-lock lint format bench clean

$(VENV)/.installed: requirements.lock requirements-nodeps.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q -r requirements.lock
	# Text models: --no-deps, or tensorflow-text would add the full tensorflow wheel beside
	# tensorflow-cpu (see the file's header).
	$(PYTHON) -m pip install -q --no-deps -r requirements-nodeps.lock
	$(PYTHON) -m pip install -q --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# One jar per Spark line, named loxodon-spark<line>_<scala>-<version>.jar so that
# loxodon._jars picks by the running Spark and Scala. `jar` builds the newest line's
# (what the dev venv runs); `jars` adds the older lines' (Maven Central's Spark), and
# their examples jars for the matrix; a wheel built after `make jars` carries them all.
define copy-jar
	mkdir -p $(JAR_DIR)
	rm -f $(JAR_DIR)/loxodon_2.13-*.jar $(JAR_DIR)/loxodon-spark4.3_*.jar
	cp target/scala-2.13/loxodon-spark4.3_2.13-*.jar $(JAR_DIR)/
	touch $(JAR_DIR)/.built
endef
$(JAR_DIR)/.built: $(VENV)/.installed $(JVM_SOURCES)
	$(SBT) package
	$(copy-jar)

jar: $(JAR_DIR)/.built

# project:scala-dir of each older line (see build.sbt).
LINE_JARS := spark35_212:scala-2.12 spark35:scala-2.13 spark40:scala-2.13
LINE_PACKAGES := $(foreach l,$(LINE_JARS),$(firstword $(subst :, ,$(l)))/package) \
	examples35_212/package examples40/package
define copy-line-jars
	mkdir -p $(JAR_DIR)
	rm -f $(JAR_DIR)/loxodon-spark3.5_*.jar $(JAR_DIR)/loxodon-spark4.0_*.jar
	$(foreach l,$(LINE_JARS),cp target/lines/$(subst :,/target/,$(l))/loxodon-spark[0-9].[0-9]_*.jar $(JAR_DIR)/;)
	touch $(JAR_DIR)/.built-lines
endef
# After the newest line's: one sbt at a time on this tree (`make -j`).
$(JAR_DIR)/.built-lines: $(JAR_DIR)/.built $(JVM_SOURCES) $(wildcard examples/scala/src/main/scala/*/*/*.scala)
	$(SBT) $(LINE_PACKAGES)
	$(copy-line-jars)

jars: jar $(JAR_DIR)/.built-lines

# python/loxodon/contract.json: the facts Scala owns and Python reads (modes, params, op codes).
contract: venv
	$(SBT) "runMain loxodon.Contract"

demo: jar
	$(PYTHON) examples/mnist1d_mlp.py

# The matrix venvs' downloads and installs run beside the JVM tests (network and disk against
# sbt's CPU), so the matrix adds only its two smoke runs at the end. On a fresh clone
# (2026-12-02 16:16) the whole took 40.7 minutes: venvs, JVM tests and jars ~8, Python 23,
# the namespace cluster 7, the matrix 3.
test:
	$(MAKE) -j2 test-jvm $(MATRIX_VENVS)
	$(MAKE) lint test-python cluster-test test-matrix

# One sbt start for the checks, the jar, the tests, the examples jar the Python tests run
# and the older lines' jars the matrix runs (each further start costs ~40 s of the 2 cores).
test-jvm: venv
	$(SBT) scalafmtCheckAll examples/scalafmtCheckAll package test examples/package \
	  $(LINE_PACKAGES)
	$(copy-jar)
	mkdir -p $(dir $(EXAMPLES_STAMP)) && touch $(EXAMPLES_STAMP)
	$(copy-line-jars)

lint: venv
	$(VENV)/bin/ruff check python tests bench examples
	$(VENV)/bin/ruff format --check python tests bench examples

test-python: jar examples-jar
	$(VENV)/bin/pytest -q --durations=25 tests

# A master, two workers and the driver, each in a network namespace of its own
# (cluster/); needs root. Everything started is torn down on every exit path.
cluster-test: jar examples-jar
	cluster/cluster.sh run $(abspath $(VENV))/bin/pytest -q tests/cluster

# The smoke set (tests/matrix) on the older Spark lines, each in a virtualenv of its
# own from its lock file (the Spark 3.5 one also holds the lowest supported
# Keras/TensorFlow), with the jar the picker chooses there and that line's examples jar.
MATRIX := 35:examples35_212/target/scala-2.12 40:examples40/target/scala-2.13

.venv-spark%/.installed: tests/matrix/requirements-spark%.lock pyproject.toml
	$(PY) -m venv .venv-spark$*
	.venv-spark$*/bin/python -m pip install -q -r $<
	.venv-spark$*/bin/python -m pip install -q --no-deps -e .
	touch $@

# Spark 4.0 runs with the newest Keras/TensorFlow, which the main venv holds already: its venv
# is pyspark 4.0 alone, in front of the main venv's packages (a .pth file that adds that
# site-packages after its own), so TensorFlow is not installed a second time. pyspark goes
# in before the .pth exists, so that pip never sees the main venv's pyspark.
.venv-spark40/.installed: tests/matrix/requirements-spark40.lock pyproject.toml $(VENV)/.installed
	rm -rf .venv-spark40
	$(PY) -m venv .venv-spark40
	.venv-spark40/bin/python -m pip install -q --no-deps -r $<
	.venv-spark40/bin/python -m pip install -q --no-deps -e .
	.venv-spark40/bin/python -c 'import pathlib, sysconfig; main = sysconfig.get_paths(vars={"base": "$(abspath $(VENV))"})["purelib"]; pathlib.Path(sysconfig.get_paths()["purelib"], "loxodon-main-venv.pth").write_text(f"import site; site.addsitedir({main!r})\n")'
	touch $@

MATRIX_VENVS := $(foreach m,$(MATRIX),.venv-spark$(firstword $(subst :, ,$(m)))/.installed)

# The venvs' downloads and the jars' compiles overlap (-j3: network against CPU).
test-matrix:
	$(MAKE) -j3 jars $(MATRIX_VENVS)
	set -e; for m in $(MATRIX); do \
	  v=$${m%%:*}; py=$(abspath .)/.venv-spark$$v/bin/python; \
	  echo "== Spark line of .venv-spark$$v"; \
	  env -u SPARK_HOME PYSPARK_PYTHON=$$py PYSPARK_DRIVER_PYTHON=$$py \
	    LOXODON_EXAMPLES_JAR=$$(ls $(abspath .)/target/lines/$${m#*:}/loxodon-examples_*.jar) \
	    $$py -m pytest -q -p no:cacheprovider tests/matrix; \
	done

# Re-resolves the Spark 3.5 matrix lock from its requirement list (needs PyPI); the 4.0
# one holds pyspark alone (the rest is the main venv's).
matrix-lock:
	rm -rf /tmp/lock-35 && $(PY) -m venv /tmp/lock-35 && \
	  /tmp/lock-35/bin/pip install -q -r tests/matrix/requirements-spark35.txt && \
	  /tmp/lock-35/bin/pip freeze > tests/matrix/requirements-spark35.lock

format: venv
	$(SBT) scalafmtAll scalafmtSbt
	$(VENV)/bin/ruff format python tests bench examples
	$(VENV)/bin/ruff check --fix python tests bench examples

EXAMPLES_STAMP := examples/scala/target/.built
$(EXAMPLES_STAMP): $(JAR_DIR)/.built $(wildcard examples/scala/src/main/scala/*/*/*.scala)
	$(SBT) examples/package
	touch $@

examples-jar: $(EXAMPLES_STAMP)

bench: jar
	$(PYTHON) bench/ps_roundtrip.py
	$(PYTHON) bench/inference.py
	$(PYTHON) bench/train.py
	$(PYTHON) bench/selection.py
	$(PYTHON) bench/cluster.py

clean:
	rm -rf target project/target $(JAR_DIR) .pytest_cache .ruff_cache \
	  .venv-spark35 .venv-spark40
