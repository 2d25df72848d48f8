"""Test support of the Alyx plugin: a real alyx-local server on PostgreSQL (:mod:`.alyx_server`), its seed data
(:mod:`.seed_alyx`), a fault-injecting proxy (:mod:`.fault_proxy`) and fuzz targets (:mod:`.fuzz`).
"""
