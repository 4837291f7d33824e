//! Values to bytes: each format and encoding, variables files, folders, templates, the
//! driver's path rules and what a file costs in a response. Rendering knows no class: an item
//! reaches it as a format, an encoding and a path.

pub mod bytes;
pub mod cost;
pub mod env;
pub mod error;
pub mod folder;
pub mod format;
pub mod paths;
pub mod template;
pub mod yaml;

pub use bytes::render;
pub use error::{ItemProblem, ItemProblemKind, RenderError, kind};
pub use format::{Encoding, Format};
