//! A list with a fixed capacity, inline: what the parsers fill instead of
//! the C SDK's `items[MAX]` + `items_count` pairs, without an allocator.

use core::ops::Deref;

use super::{AduError, Capacity};

/// Up to `N` items of `T`, held inline; reads as a slice of the ones
/// pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedList<T: Copy + Default, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<T: Copy + Default, const N: usize> FixedList<T, N> {
    /// An empty list.
    pub fn new() -> Self {
        Self {
            items: [T::default(); N],
            len: 0,
        }
    }

    /// Appends `item`; when the list is full, [`AduError::TooMany`] naming
    /// `what` (the C SDK's `AZ_ERROR_NOT_ENOUGH_SPACE`).
    pub(crate) fn push(&mut self, item: T, what: Capacity) -> Result<(), AduError> {
        let slot = self
            .items
            .get_mut(self.len)
            .ok_or(AduError::TooMany(what))?;
        *slot = item;
        self.len += 1;
        Ok(())
    }

    /// The items pushed.
    pub fn as_slice(&self) -> &[T] {
        self.items.get(..self.len).unwrap_or_default()
    }
}

impl<T: Copy + Default, const N: usize> Default for FixedList<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Default, const N: usize> Deref for FixedList<T, N> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_up_to_its_capacity() {
        let mut list = FixedList::<u8, 2>::new();
        assert!(list.is_empty());
        list.push(1, Capacity::Steps).unwrap();
        list.push(2, Capacity::Steps).unwrap();
        assert_eq!(
            list.push(3, Capacity::Steps),
            Err(AduError::TooMany(Capacity::Steps))
        );
        assert_eq!(&*list, &[1, 2]);
        let empty = FixedList::<u8, 0>::default();
        assert_eq!(empty.as_slice(), &[] as &[u8]);
    }
}
