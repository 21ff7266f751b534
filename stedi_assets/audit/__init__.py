"""The scheduled audits of the published lake: checks of every row, apart from any run."""
