# Two commands do all the setup: `make demo` (install, then the main job) and `make test`.
VENV ?= .venv
PYTHON := $(VENV)/bin/python

.PHONY: demo test lint bench browser
# The demo sweep answers in a fixed dir: run it again and it reports at once (nothing left to train).
DEMO_DIR := outputs/sweeps/demo
demo: $(VENV)/installed
	$(PYTHON) run_experiments.py -m model=test_resnet,test_efficientnet category=optimizer,loss_function \
		seed=1,2,3 data.image_size=32 trainer.max_epochs=5 hydra.sweep.dir=$(DEMO_DIR)
	$(VENV)/bin/hpsweep summary $(DEMO_DIR) --markdown $(DEMO_DIR)/summary/summary.md --json $(DEMO_DIR)/summary/summary.json

# Two test processes (pytest-xdist), each training on one thread: the 2 cores stay busy while the other
# process starts Python, composes configs or waits on a subprocess. loadgroup: the tests that share an expensive
# session fixture (their xdist_group) run in one process, so it is made once.
TEST_WORKERS ?= 2
test: $(VENV)/installed lint browser
	OMP_NUM_THREADS=1 $(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadgroup

# The report's tests open it in a real headless browser: Debian's chromium (installed as root; else they skip).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
		|| { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; } } \
		|| echo "no chromium (apt-get install chromium as root): the browser tests will skip"

# ruff, then the packages' layers (import-linter's contracts in pyproject.toml): an import up the layers or a cycle
# between packages fails the build.
lint: $(VENV)/installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# torch first and pinned: an unpinned torch would pull a multi-GB build; pip takes these from its cache.
$(VENV)/installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PYTHON) -m pip install --quiet -e ".[test]"
	touch $@

# Every benchmark, one after another (about 10 minutes on 2 cores); figures in BENCHMARKS.md.
bench: $(VENV)/installed
	$(PYTHON) benchmarks/startup.py
	$(PYTHON) benchmarks/loop_overhead.py
	$(PYTHON) benchmarks/loop_options.py
	$(PYTHON) benchmarks/job_overhead.py
	$(PYTHON) benchmarks/data_pipeline.py
