# The two commands: `make lab` (bring up the local lab and deploy into it) and `make test`.
.PHONY: lab lab-deploy lab-show lab-down test

lab:
	bash tests/lab/up.sh

lab-deploy:
	bash -c 'source tests/env.sh && ansible-playbook -i tests/lab/inventory site.yml'

lab-show:
	bash tests/lab/show.sh

lab-down:
	bash -c 'source tests/env.sh && molecule destroy -s lab'

test:
	bash tests/run.sh
