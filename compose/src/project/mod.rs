//! A project's containers, networks and volumes converged on its model.
