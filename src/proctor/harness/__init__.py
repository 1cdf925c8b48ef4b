"""Container side: load a benchmark, query the endpoint, score, checkpoint every sample.

Must never import docker, invoke or jinja2 (tests/harness/test_imports.py checks it).
"""
