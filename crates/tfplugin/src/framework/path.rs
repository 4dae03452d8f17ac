//! Attribute paths: where in a configuration a diagnostic points.

use std::fmt;

/// One step of an [`AttributePath`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathStep {
    /// An object attribute or block name.
    Attribute(String),
    /// A map key.
    ElementKeyString(String),
    /// A list index. (Set elements cannot be addressed.)
    ElementKeyInt(i64),
}

/// A path from the root of a resource, data source or provider configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttributePath {
    /// The steps, outermost first.
    pub steps: Vec<PathStep>,
}

impl AttributePath {
    /// The path of a top-level attribute.
    pub fn root(name: &str) -> Self {
        AttributePath {
            steps: vec![PathStep::Attribute(name.to_owned())],
        }
    }

    /// This path extended by an attribute step.
    pub fn attr(mut self, name: &str) -> Self {
        self.steps.push(PathStep::Attribute(name.to_owned()));
        self
    }
}

impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Attribute(a) if i == 0 => write!(f, "{a}")?,
                PathStep::Attribute(a) => write!(f, ".{a}")?,
                PathStep::ElementKeyString(k) => write!(f, "[{k:?}]")?,
                PathStep::ElementKeyInt(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}
