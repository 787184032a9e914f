//! NOR flash in RAM for the tests and fuzz targets of what Duet keeps on
//! flash (the MQTT journal, the TLS ticket store): it
//! keeps NOR rules (bits only go from 1 to 0 between erases; writes of whole
//! 4-byte words, erases of whole 256-byte sectors; a write or erase that
//! breaks them panics), can lose power after a set number of written
//! bytes (an erase counts as one), and can refuse writes, as a worn word
//! does, with the power on.

#![allow(dead_code)]

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Bytes per erase sector.
pub const ERASE: usize = 256;

/// Bytes per write.
pub const WRITE: usize = 4;

/// NOR flash in RAM, with a power cut after `budget` more written bytes.
pub struct RamFlash {
    pub bytes: Vec<u8>,
    /// Bytes (or erases) still made before the power goes; `None`: it
    /// stays on.
    pub budget: Option<usize>,
    /// Erases made, of any number of sectors each.
    pub erases: usize,
    /// Writes still refused, each with an error and nothing written,
    /// before writes succeed again.
    pub refused_writes: usize,
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
        RamFlash::holding(vec![0xFF; len], None)
    }

    /// Flash holding `bytes`, whose power goes after `budget` more written
    /// bytes (see [`RamFlash::budget`]).
    pub fn holding(bytes: Vec<u8>, budget: Option<usize>) -> RamFlash {
        RamFlash {
            bytes,
            budget,
            erases: 0,
            refused_writes: 0,
        }
    }
}

impl RamFlash {
    /// A fuzz input split at its first 0xFE: `len` bytes of flash that
    /// begin with what comes before (the rest erased), and what comes
    /// after.
    pub fn from_image_and_operations(data: &[u8], len: usize) -> (RamFlash, &[u8]) {
        let (image, operations) = match data.iter().position(|b| *b == 0xFE) {
            Some(split) => (&data[..split], &data[split + 1..]),
            None => (data, &[][..]),
        };
        let mut flash = RamFlash::new(len);
        let copied = image.len().min(len);
        flash.bytes[..copied].copy_from_slice(&image[..copied]);
        (flash, operations)
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

impl RamFlash {
    /// Spends one unit of the budget, or reports the power gone.
    fn spend(&mut self) -> Result<(), PowerLost> {
        match self.budget.as_mut() {
            Some(0) => Err(PowerLost),
            Some(budget) => {
                *budget -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl NorFlash for RamFlash {
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), PowerLost> {
        assert!(
            from as usize % ERASE == 0 && to as usize % ERASE == 0 && from <= to,
            "unaligned erase"
        );
        self.spend()?;
        self.erases += 1;
        self.bytes[from as usize..to as usize].fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), PowerLost> {
        let at = offset as usize;
        assert!(
            at % WRITE == 0 && data.len() % WRITE == 0,
            "unaligned write"
        );
        if self.refused_writes > 0 {
            self.refused_writes -= 1;
            return Err(PowerLost);
        }
        for (i, byte) in data.iter().enumerate() {
            self.spend()?;
            let old = self.bytes[at + i];
            assert_eq!(old & byte, *byte, "a 0 bit written back to 1 at {}", at + i);
            self.bytes[at + i] = old & byte;
        }
        Ok(())
    }
}
