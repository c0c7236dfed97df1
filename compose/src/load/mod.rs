//! From compose files on disk to one resolved model (the tree `compose config` prints).
