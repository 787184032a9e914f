//! NOR flash in RAM for the tests of the flash journal: it keeps NOR rules
//! (bits only go from 1 to 0 between erases; writes of whole 4-byte words,
//! erases of whole 256-byte sectors; a test fails on a write that breaks
//! them) and can lose power after a set number of written bytes.

#![allow(dead_code)]

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Bytes per erase sector.
pub const ERASE: usize = 256;

/// NOR flash in RAM, with a power cut after `budget` more written bytes.
pub struct RamFlash {
    pub bytes: Vec<u8>,
    /// Bytes still written before the power goes; `None`: it stays on.
    pub budget: Option<usize>,
}

#[derive(Debug)]
pub struct PowerLost;

impl NorFlashError for PowerLost {
    fn kind(&self) -> NorFlashErrorKind {
        NorFlashErrorKind::Other
    }
}

impl RamFlash {
    /// `len` erased bytes, a whole number of sectors.
    pub fn new(len: usize) -> RamFlash {
        assert_eq!(len % ERASE, 0);
        RamFlash {
            bytes: vec![0xFF; len],
            budget: None,
        }
    }
}

impl ErrorType for RamFlash {
    type Error = PowerLost;
}

impl ReadNorFlash for RamFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), PowerLost> {
        let at = offset as usize;
        bytes.copy_from_slice(&self.bytes[at..at + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

impl NorFlash for RamFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), PowerLost> {
        assert!(from as usize % ERASE == 0 && to as usize % ERASE == 0);
        if self.budget == Some(0) {
            return Err(PowerLost);
        }
        self.bytes[from as usize..to as usize].fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), PowerLost> {
        let at = offset as usize;
        assert!(at % 4 == 0 && data.len() % 4 == 0, "unaligned write");
        for (i, byte) in data.iter().enumerate() {
            if let Some(budget) = self.budget.as_mut() {
                if *budget == 0 {
                    return Err(PowerLost);
                }
                *budget -= 1;
            }
            let old = self.bytes[at + i];
            assert_eq!(old & byte, *byte, "a 0 bit written back to 1 at {}", at + i);
            self.bytes[at + i] = old & byte;
        }
        Ok(())
    }
}
