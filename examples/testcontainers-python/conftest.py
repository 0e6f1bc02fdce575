# The module's fixtures: fargate_local (one per session) and
# fargate_local_clean (the same emulator, reset before the test).
pytest_plugins = ["testcontainers_fargate_local.pytest_plugin"]
