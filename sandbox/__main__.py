"""`python -m sandbox`: the same server as `kpi-sync sandbox`, without loading the service."""

from sandbox.cli import sandbox_command

if __name__ == "__main__":
    sandbox_command()
