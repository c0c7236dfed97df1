//! The error that ends a command with a given exit status (a container's own, a template
//! error's 1, Docker's 125/126/127), shared by the commands and the formatting module.

/// An error that carries a process exit code (the container's, or Docker's 125/126/127).
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}
