//! What a file costs in the driver's response, so that a walk or a render can stop at the
//! first file that does not fit.

/// Bytes a file takes in the response beyond its contents, path and version: field tags,
/// lengths and the mode.
pub const FILE_FRAMING: usize = 32;

/// A file's version in the response: an id the length of its path plus the version text.
pub const VERSION_BYTES: usize = 64;

/// Bytes a file takes in the response: its contents, its path twice (the file and its object
/// version's id), its version and the framing.
pub fn file_bytes(path: &str, contents: usize) -> usize {
    FILE_FRAMING + 2 * path.len() + VERSION_BYTES + contents
}
