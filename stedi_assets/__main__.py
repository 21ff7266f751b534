"""`python -m stedi_assets`: the `stedi` command."""

from stedi_assets.tools.cli import main

main()
