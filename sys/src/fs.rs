//! File-system calls on paths that must not follow symlinks (layer unpacking, build
//! snapshots): ownership, timestamps, device nodes and extended attributes.
