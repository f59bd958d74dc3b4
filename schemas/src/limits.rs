//! Caps on what a decoder accepts, so hostile bytes cost bounded memory and time.

/// Default cap on one encoded record or payload: 16 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// Caps applied to every decode (and to encodes, so a producer cannot write what readers refuse).
///
/// With these, decoding allocates at most in proportion to the input's real size: every length
/// read from the input is checked against the bytes that remain before anything is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest record (header included) or payload accepted, in bytes.
    pub max_record_bytes: usize,
    /// Deepest nesting of records, arrays, maps, unions and enums in one value.
    pub max_depth: usize,
    /// Most array and map items in one value, all collections counted together.
    pub max_items: usize,
}

impl Limits {
    /// The defaults: 16 MiB records, depth 64, one million collection items.
    pub const DEFAULT: Limits = Limits {
        max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        max_depth: 64,
        max_items: 1 << 20,
    };

    /// These limits with another cap on record size.
    pub const fn with_max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// These limits with another cap on nesting depth.
    pub const fn with_max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// These limits with another cap on collection items.
    pub const fn with_max_items(mut self, items: usize) -> Self {
        self.max_items = items;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
