//! The OCI distribution protocol: berth's client (pull, push, auth) and its embedded server.
