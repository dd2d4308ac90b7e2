"""The demo city (an Osaka-like city) and ``manage.py seed_demo``; entry points in
:mod:`demo.city`. The top of the app layers: it seeds through the directory's and messaging's
services, and nothing imports it but the launcher (``config/run.py``) and the benchmarks."""
