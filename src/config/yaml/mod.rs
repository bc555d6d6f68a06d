//! The config's YAML, read so that every problem of a file is found in one run and each says
//! where it is: [`tree`] keeps the line and column of every node, [`de`] reads serde types over
//! it and collects problems instead of stopping at the first, [`wording`] says them in the
//! file's terms.

mod de;
pub mod tree;
mod wording;

pub use de::read_all;
pub use tree::{Mark, Node};
pub use wording::{one_of, suggest};

/// One thing wrong with (or worth saying about) a file, at a key path and, when known, a place.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// `staticClients[0].redirectURIs[1]`; empty for the file as a whole.
    pub path: String,
    pub message: String,
    pub at: Option<Mark>,
    /// Read as meant, but worth a word (a key in another case than Gantry writes it).
    pub note: bool,
}

impl Problem {
    /// A problem found after reading, at a path; [`crate::config::Reading::place`] gives it
    /// its place in the file.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
            at: None,
            note: false,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(m) = self.at.filter(|m| m.line > 0) {
            write!(f, "line {}, column {}: ", m.line, m.column)?;
        }
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Parse `text` and read `T` from it, with every problem found.
pub fn read<T: serde::de::DeserializeOwned>(text: &str) -> (Option<Node>, Option<T>, Vec<Problem>) {
    match tree::parse(text) {
        Err(errors) => (
            None,
            None,
            errors
                .into_iter()
                .map(|e| Problem {
                    path: String::new(),
                    message: e.message,
                    at: Some(e.at),
                    note: false,
                })
                .collect(),
        ),
        Ok(root) => {
            let (v, problems) = read_all(&root, "");
            (Some(root), v, problems)
        }
    }
}
