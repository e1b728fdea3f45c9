# The two commands: `make lab` (bring up the local lab and deploy into it) and `make test`.
.PHONY: lab lab-deploy lab-show lab-down test lint unit bench bench-deploy bench-fleet soak

# TOPOLOGY=per_host (the default) or central (PgBouncer, HAProxy and keepalived on two hosts).
TOPOLOGY ?= per_host
LAB_INVENTORY = $(if $(filter central,$(TOPOLOGY)),tests/lab/central/inventory,tests/lab/inventory)
LAB_SCENARIO = $(if $(filter central,$(TOPOLOGY)),lab-central,lab)
LAB_SHOW = $(if $(filter central,$(TOPOLOGY)),tests/lab/show-central.sh,tests/lab/show.sh)

lab:
	bash tests/lab/up.sh $(TOPOLOGY)

lab-deploy:
	bash -c 'source tests/env.sh && ansible-playbook -i $(LAB_INVENTORY) site.yml'

lab-show:
	bash $(LAB_SHOW)

lab-down:
	bash -c 'source tests/env.sh && molecule destroy -s $(LAB_SCENARIO)'

test:
	bash tests/run.sh

# The fast paths: the linters (about 2 minutes), the unit tests (under a minute; no containers).
lint:
	bash tests/lint.sh

unit:
	bash tests/bootstrap.sh && bash -c 'source tests/env.sh && python -m pytest -n 2 tests/unit'

# Not part of `make test`: deploys the benchmark's own containers, measures, writes
# tests/bench/results/<date>/ and removes the containers (about 15 minutes here).
bench:
	bash tests/bench/run.sh

# Deploy timings of the 3-host lab from no containers: create, cold, re-run, check mode.
bench-deploy:
	bash tests/bench/run.sh --deploy-only lab tests/lab/inventory

# Deploy timings at fleet size: 1, 5, 10 and 20 pooler hosts, each from fresh containers (cold,
# re-run, check mode), and the growth per host (tests/bench/fleet.py; about an hour here).
bench-fleet:
	bash tests/bench/run.sh --fleet 1,5,10,20

# Not part of `make test`: about 15 minutes of mixed load through a 2-process per_host pooler with a
# rolling restart in the middle; memory and descriptors sampled and bounded (tests/bench/soak.py).
# Deploys the benchmark's containers first and removes them after (about 25 minutes in all here).
soak:
	bash tests/bench/run.sh --soak
