//! The resolved model, typed: services, networks, volumes, secrets and configs.
