//! Helpers shared by berth's integration, privileged and end-to-end tests.
