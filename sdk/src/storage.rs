//! What the records Duet keeps on NOR flash share (feature `storage`, through
//! `embedded-storage`'s [`NorFlash`]): a region of two equal halves, one
//! live while the other is rewritten, so a power cut at any point leaves
//! the live one whole; records checked by CRC-32; generation numbers that
//! say which half is newer. The MQTT journal (`mqtt::journal`) and the TLS
//! ticket store (`tls::FlashTickets`) are built on it.

use embedded_storage::nor_flash::NorFlash;

/// Bytes moved through the stack at a time.
pub(crate) const CHUNK: usize = 32;

/// Why a region of flash could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashError {
    /// The region is not two halves of whole erase blocks inside the
    /// flash, the write size is not a power of two dividing 32, or reads
    /// are not byte-granular; or what was to be written does not fit in a
    /// half.
    Geometry,
    /// The flash reported an error.
    Flash,
}

/// Checks that `flash` and two halves of `half_size` bytes from `start`
/// suit the records (see [`FlashError::Geometry`]).
pub(crate) fn check_geometry<F: NorFlash>(
    flash: &F,
    start: u32,
    half_size: u32,
) -> Result<(), FlashError> {
    let write = F::WRITE_SIZE;
    let end = u64::from(start) + 2 * u64::from(half_size);
    let fits = F::READ_SIZE == 1
        && end <= flash.capacity() as u64
        && write.is_power_of_two()
        && CHUNK % write == 0
        && half_size != 0
        && half_size as usize % F::ERASE_SIZE == 0
        && start as usize % F::ERASE_SIZE == 0;
    if fits {
        Ok(())
    } else {
        Err(FlashError::Geometry)
    }
}

/// `len` rounded up to the flash's write size.
pub(crate) fn padded<F: NorFlash>(len: usize) -> u32 {
    len.next_multiple_of(F::WRITE_SIZE) as u32
}

/// Writes the concatenation of `parts` at `to`, padded with erased bytes
/// to the write size.
pub(crate) fn write_padded<F: NorFlash>(
    flash: &mut F,
    to: u32,
    parts: &[&[u8]],
) -> Result<(), FlashError> {
    let mut chunk = [0xFFu8; CHUNK];
    let (mut filled, mut at) = (0, to);
    for part in parts {
        for byte in part.iter() {
            chunk[filled] = *byte;
            filled += 1;
            if filled == CHUNK {
                flash.write(at, &chunk).map_err(|_| FlashError::Flash)?;
                at += CHUNK as u32;
                chunk = [0xFF; CHUNK];
                filled = 0;
            }
        }
    }
    if filled > 0 {
        let len = padded::<F>(filled) as usize;
        flash
            .write(at, &chunk[..len])
            .map_err(|_| FlashError::Flash)?;
    }
    Ok(())
}

/// Whether every byte of `flash` in `from..to` is erased (reads 0xFF).
pub(crate) fn erased<F: NorFlash>(
    flash: &mut F,
    mut from: u32,
    to: u32,
) -> Result<bool, FlashError> {
    let mut chunk = [0u8; CHUNK];
    while from < to {
        let len = (to - from).min(CHUNK as u32) as usize;
        flash
            .read(from, &mut chunk[..len])
            .map_err(|_| FlashError::Flash)?;
        if chunk[..len].iter().any(|b| *b != 0xFF) {
            return Ok(false);
        }
        from += len as u32;
    }
    Ok(true)
}

/// Whether generation `a` comes after `b` in serial number arithmetic (RFC
/// 1982 section 3.2, 32 bits): the two halves' generations are one apart,
/// or far apart only when a cut header or foreign data made one up.
pub(crate) fn newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// CRC-32 (IEEE 802.3, reflected), bit by bit: records are short and the
/// table would cost a kilobyte of flash.
pub(crate) struct Crc32(u32);

impl Crc32 {
    pub(crate) fn new() -> Self {
        Crc32(!0)
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u32::from(*byte);
            for _ in 0..8 {
                self.0 = (self.0 >> 1) ^ (0xEDB8_8320 & (self.0 & 1).wrapping_neg());
            }
        }
    }

    pub(crate) fn finish(&self) -> u32 {
        !self.0
    }
}

#[cfg(test)]
mod tests {
    use super::{Crc32, newer};

    #[test]
    fn generations_compare_as_serial_numbers() {
        assert!(newer(2, 1));
        assert!(!newer(1, 2));
        assert!(!newer(5, 5));
        assert!(newer(0, u32::MAX), "the count wraps");
        // A header cut right after its magic reads as u32::MAX: it loses
        // to the half it was copied from.
        assert!(!newer(u32::MAX, 1));
    }

    #[test]
    fn crc32_is_the_ieee_one() {
        // The check value of CRC-32/ISO-HDLC.
        let mut sum = Crc32::new();
        sum.update(b"1234");
        sum.update(b"56789");
        assert_eq!(sum.finish(), 0xCBF4_3926);
    }
}
