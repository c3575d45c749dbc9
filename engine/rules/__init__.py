"""Pure rules of the engine: transitions, claiming, promises, templates, retry."""
