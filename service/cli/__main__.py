"""`python -m service.cli`: the same commands as the `kpi-sync` script."""

from service.cli import main

main()
