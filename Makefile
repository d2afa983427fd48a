# Striatum: `make demo` and `make test` work on a fresh machine (they install what is missing).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

VENV := $(CURDIR)/.venv
# libtorch comes from the torch wheel in the project venv (tch 0.26 needs libtorch 2.13.0).
export LIBTORCH_USE_PYTORCH := 1
export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)
export CARGO_TERM_COLOR ?= never
# Mesa's Vulkan driver complains on stderr when this is unset (sandboxes, CI); give it one.
ifeq ($(XDG_RUNTIME_DIR),)
export XDG_RUNTIME_DIR := /tmp/striatum-runtime-$(shell id -u)
$(shell mkdir -p -m 700 $(XDG_RUNTIME_DIR))
endif

CARGO ?= cargo
STRIATUM := target/debug/striatum

.PHONY: help bootstrap build test unit-tests lint fmt demo tour rl-bench bench doctor clean reward-model

help:
	@echo "make demo   - install what is missing, build, and run a sim training session (~6 min)"
	@echo "make tour   - bus latency, scripted experts, recording, the reward model on new episodes"
	@echo "make rl-bench - learning curves of sparse / shaped / direct rewards over seeds (~40 min)"
	@echo "make test   - install what is missing, build, and run every test (+ fmt and clippy)"
	@echo "make bench  - codec (criterion), bus latency, simulator, logging and reward model benchmarks"
	@echo "make doctor - check libtorch, CUDA, Vulkan and Zenoh"
	@echo "make reward-model - rebuild the shipped reward model from nothing (1-2 h)"

bootstrap:
	@scripts/bootstrap.sh

build: bootstrap
	$(CARGO) build --workspace --bins

test: bootstrap
	$(CARGO) fmt --all -- --check
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@echo "make test: all checks passed"

lint: bootstrap
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

doctor: build
	$(STRIATUM) doctor

# Rebuilds models/prm_base from nothing (records data, trains, evaluates, adapts): 1-2 h.
reward-model: build
	scripts/reward-model.sh

# The sim training session on the default scene (launch/sim_train.toml): the reward node scores
# the sim actor's cameras, the learner trains on its transitions, Rerun records the session.
# A previous run is moved aside, never deleted.
demo: build
	$(STRIATUM) doctor
	$(STRIATUM) launch launch/sim_train.toml
	@echo
	@cat runs/sim_train/actor0_summary.json
	@echo
	@echo "Metrics: runs/sim_train/actor0.csv (episodes), runs/sim_train/learner.csv (updates)"
	@echo "Watch it: $(STRIATUM) view runs/sim_train/session.rrd   (or --web for the web viewer)"

# A tour of the layers below the learner: bus latency, the scripted experts, recording with
# cameras, and the shipped reward model on unseen episodes.
tour: build
	@echo "Bus latency between two Zenoh sessions on loopback:"
	$(STRIATUM) bench bus --samples 500
	@echo
	@echo "Scripted experts in the simulator (Rapier), 20 episodes per task:"
	@for pair in "reach so101" "push_cube so101" "pick_place panda" "stack panda" "open_drawer panda"; do \
		set -- $$pair; $(STRIATUM) sim run --scene sim_scenes/$$1.toml --robot $$2 --episodes 20; done
	@echo
	@echo "Recording push episodes with three cameras and converting them for Rerun:"
	rm -rf runs/demo/push_cube
	$(STRIATUM) sim record --scene sim_scenes/push_cube.toml --robot so101 --episodes 2 \
		--variants expert,regress --out runs/demo/push_cube
	$(STRIATUM) data export-rrd runs/demo/push_cube --out runs/demo/push_cube.rrd
	@echo "Open it with: $(STRIATUM) view runs/demo/push_cube.rrd   (or --web for the web viewer)"
	@echo
	@echo "The shipped reward model (models/prm_base) on push episodes from seeds it never saw:"
	rm -rf runs/demo/push_eval
	$(STRIATUM) sim record --scene sim_scenes/push_cube.toml --robot so101 --episodes 3 --seed 1000 \
		--variants expert,regress,fail --hold 12 --max-steps 100 --no-depth --out runs/demo/push_eval
	$(STRIATUM) reward eval --model models/prm_base --data runs/demo/push_eval --split all --no-per-view

# The learning benchmark (docs/rl.md): reward modes x 3 seeds on push_cube, then sparse against
# learned shaping on pick_place.
rl-bench: build
	$(STRIATUM) rl bench --config launch/push_cube_bench.toml --seeds 5 --env-steps 16000 --eval-every 2000 \
		--out runs/rl_bench/push_cube
	$(STRIATUM) rl bench --config launch/pick_place_bench.toml --modes sparse,shaped_learned \
		--seeds 3 --env-steps 12000 --eval-every 2000 --out runs/rl_bench/pick_place

bench: build
	$(CARGO) bench -p striatum-msgs --bench codec -- --noplot
	$(CARGO) build --release -p striatum
	target/release/striatum bench bus --samples 5000
	target/release/striatum sim bench --steps 1000 --repeats 3
	target/release/striatum sim bench --render --steps 300 --scene sim_scenes/push_cube.toml --scene sim_scenes/pick_place.toml
	rm -rf target/bench-data/push_cube
	target/release/striatum sim record --scene sim_scenes/push_cube.toml --robot so101 --episodes 5 \
		--variants expert,regress --out target/bench-data/push_cube
	target/release/striatum bench viz --data target/bench-data/push_cube --repeats 5
	target/release/striatum reward bench --model models/prm_base

clean:
	$(CARGO) clean
