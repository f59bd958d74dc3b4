//! Where a part sits inside a canvas, for error messages: `chain[2].group[5]`.
//!
//! Paths are kept as a stack of segments while walking a canvas and only formatted when an
//! error needs one, so walking a large canvas costs no string building.

use std::fmt;

/// One step down into a canvas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment {
    /// The i-th step of a chain.
    Chain(usize),
    /// The i-th member of a group.
    Group(usize),
    /// The i-th member of a chord's header.
    Header(usize),
    /// A chord's body.
    Body,
    /// The k-th success callback.
    Link(usize),
    /// The k-th error callback.
    LinkError(usize),
    /// A map, starmap or chunks.
    Named(&'static str),
    /// The i-th item of a map, starmap or chunks.
    Item(usize),
}

/// A stack of segments from the root of a canvas.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Path(Vec<Segment>);

impl Path {
    /// Steps down.
    pub(crate) fn push(&mut self, segment: Segment) {
        self.0.push(segment);
    }

    /// Steps back up.
    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }

    /// How deep the walk is.
    pub(crate) fn depth(&self) -> usize {
        self.0.len()
    }

    /// The path as text.
    pub(crate) fn text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Chain(i) => write!(f, "chain[{i}]"),
            Segment::Group(i) => write!(f, "group[{i}]"),
            Segment::Header(i) => write!(f, "chord.header[{i}]"),
            Segment::Body => f.write_str("chord.body"),
            Segment::Link(k) => write!(f, "link[{k}]"),
            Segment::LinkError(k) => write!(f, "link_error[{k}]"),
            Segment::Named(name) => f.write_str(name),
            Segment::Item(i) => write!(f, "items[{i}]"),
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("canvas");
        }
        for (i, segment) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{segment}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_issue_says() {
        let mut path = Path::default();
        assert_eq!(path.text(), "canvas");
        path.push(Segment::Chain(2));
        path.push(Segment::Group(5));
        assert_eq!(path.text(), "chain[2].group[5]");
        path.pop();
        path.push(Segment::Body);
        assert_eq!(path.text(), "chain[2].chord.body");
    }
}
