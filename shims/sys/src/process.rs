//! Process plumbing for the supervisor and the CLI: detached spawns, signal disposition,
//! reaping, and trimming an idle process's memory footprint.
