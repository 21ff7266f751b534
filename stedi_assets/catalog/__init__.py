"""Table catalogs: AWS Glue for Athena, and local Spark SQL over the lake."""
