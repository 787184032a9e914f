//! TEMPORARY stand-in for `crate::wire::tcp::SeqNumber`, so that the `tcpbuf`
//! branch compiles on its own. The merge replaces this whole file with
//! `pub use crate::wire::tcp::SeqNumber;`; code in this branch relies only on
//! the API that the real type provides (RFC 9293 §3.4 modular arithmetic).

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence number: arithmetic modulo 2^32 (RFC 9293 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The later of two sequence numbers (meaningful within 2^31).
    pub fn max(self, other: Self) -> Self {
        if self < other { other } else { self }
    }

    /// The earlier of two sequence numbers (meaningful within 2^31).
    pub fn min(self, other: Self) -> Self {
        if self < other { self } else { other }
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u32> for SeqNumber {
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    fn sub(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs))
    }
}

impl Sub<SeqNumber> for SeqNumber {
    type Output = i32;
    fn sub(self, rhs: SeqNumber) -> i32 {
        self.0.wrapping_sub(rhs.0) as i32
    }
}

impl PartialOrd for SeqNumber {
    /// Ordered by the sign of the wrapping difference: meaningful for numbers
    /// less than 2^31 apart.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some((*self - *other).cmp(&0))
    }
}
