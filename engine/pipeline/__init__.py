"""Pipelines: a builder and a file form that compile to a DAG of jobs."""
