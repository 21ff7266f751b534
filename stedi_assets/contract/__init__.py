"""The STEDI data contract as pure transformations of Spark DataFrames (no Dagster here)."""
