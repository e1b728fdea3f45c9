# The two commands: `make lab` (bring up the local lab and deploy into it) and `make test`.
.PHONY: lab lab-deploy lab-show lab-down test

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
