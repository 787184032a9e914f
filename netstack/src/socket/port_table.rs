//! Demultiplexing by port (or ICMP identifier) without scanning sockets.
//!
//! A sorted array of bindings, searched by bisection: O(log n) per packet,
//! no hashing, no extra memory beyond four bytes per socket.

use crate::no_memmove::copy_within;

/// One entry: a port and the socket slot bound to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortBinding {
    key: u16,
    socket: u16,
}

impl PortBinding {
    pub const EMPTY: PortBinding = PortBinding { key: 0, socket: 0 };
}

/// Bound ports of one protocol.
#[derive(Debug)]
pub struct PortTable<'a> {
    bindings: &'a mut [PortBinding],
    len: usize,
}

/// The key is bound already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InUse;

impl<'a> PortTable<'a> {
    pub fn new(bindings: &'a mut [PortBinding]) -> Self {
        Self { bindings, len: 0 }
    }

    fn bound(&self) -> &[PortBinding] {
        &self.bindings[..self.len]
    }

    /// The socket slot bound to `key`.
    pub fn get(&self, key: u16) -> Option<usize> {
        let bound = self.bound();
        bound
            .binary_search_by_key(&key, |b| b.key)
            .ok()
            .map(|i| usize::from(bound[i].socket))
    }

    /// True when `key` is bound.
    pub fn contains(&self, key: u16) -> bool {
        self.get(key).is_some()
    }

    /// Binds `key` to `socket`. The table has one entry per socket slot, so
    /// it is never full while the socket being bound holds no other key.
    pub fn insert(&mut self, key: u16, socket: usize) -> Result<(), InUse> {
        let at = match self.bound().binary_search_by_key(&key, |b| b.key) {
            Ok(_) => return Err(InUse),
            Err(at) => at,
        };
        if self.len == self.bindings.len() {
            return Err(InUse);
        }
        copy_within(self.bindings, at..self.len, at + 1);
        self.bindings[at] = PortBinding {
            key,
            socket: socket as u16,
        };
        self.len += 1;
        Ok(())
    }

    /// Unbinds `key`.
    pub fn remove(&mut self, key: u16) {
        if let Ok(at) = self.bound().binary_search_by_key(&key, |b| b.key) {
            copy_within(self.bindings, at + 1..self.len, at);
            self.len -= 1;
        }
    }

    /// Number of bound keys.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_lookup_remove_keep_the_table_sorted() {
        let mut storage = [PortBinding::EMPTY; 4];
        let mut table = PortTable::new(&mut storage);
        for (key, socket) in [(5353, 0), (53, 1), (65535, 2), (1, 3)] {
            table.insert(key, socket).unwrap();
        }
        assert_eq!(table.insert(53, 9), Err(InUse));
        assert_eq!(table.get(53), Some(1));
        assert_eq!(table.get(65535), Some(2));
        assert_eq!(table.get(1), Some(3));
        assert_eq!(table.get(80), None);
        table.remove(53);
        assert_eq!(table.get(53), None);
        assert_eq!(table.get(5353), Some(0));
        assert_eq!(table.len(), 3);
        table.insert(80, 1).unwrap();
        assert_eq!(table.get(80), Some(1));
        assert!(table.bound().windows(2).all(|w| w[0].key < w[1].key));
    }

    #[test]
    fn a_full_table_refuses_more() {
        let mut storage = [PortBinding::EMPTY; 1];
        let mut table = PortTable::new(&mut storage);
        table.insert(7, 0).unwrap();
        assert_eq!(table.insert(8, 1), Err(InUse));
        table.remove(1234);
        assert_eq!(table.len(), 1);
    }
}
