"""The job engine: store, job model, loop, promises, pipelines, workers."""
