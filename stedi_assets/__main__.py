"""`python -m stedi_assets`: the `stedi` command."""

from stedi_assets.cli import main

main()
