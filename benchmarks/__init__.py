"""The parts of ``make bench`` (tools/bench.py): starting ``tessera serve`` on a backend
(server.py), provisioning it over the REST API (provision.py), seeding a large tenant straight
into the registry's tables (seed.py) and measuring it (measure.py, wrk/request.lua)."""
