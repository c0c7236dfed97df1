//! Unpacking layers into the diff-id keyed cache (filled in by the layer work).
