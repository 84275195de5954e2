"""A job's configuration: the typed spec built from Hydra's composed config (spec), what is checked
before any engine import or model load (checks, validate), Hydra's composition errors as one sentence
(compose_errors), llem's OmegaConf resolvers, and which jobs of a sweep share an engine (grouping)."""
