//! Variable byte integers (3.1.1 §2.2.3, 5.0 §1.5.5): seven bits a byte,
//! least significant group first, high bit set while more bytes follow,
//! at most four bytes, and no more than the value needs ([MQTT-1.5.5-1]).

use super::Error;

/// The largest value four bytes can carry.
pub const MAX_VARINT: u32 = 268_435_455;

/// Decodes a variable byte integer at the start of `buf`, returning the value
/// and the bytes it took. `Incomplete` if the buffer ends inside it;
/// `MalformedVarInt` past four bytes or for more bytes than the value
/// needs (a last byte of 0 after others: `80 00` for 0), which 5.0
/// §1.5.5 forbids, so that each value has one encoding.
pub fn decode_varint(buf: &[u8]) -> Result<(u32, usize), Error> {
    let mut value: u32 = 0;
    for i in 0..4 {
        let byte = *buf.get(i).ok_or(Error::Incomplete)?;
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                break;
            }
            return Ok((value, i + 1));
        }
    }
    Err(Error::MalformedVarInt)
}

/// Bytes `value` takes when encoded.
pub const fn varint_len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Encodes `value` at the start of `buf`, returning the bytes written.
pub fn encode_varint(value: u32, buf: &mut [u8]) -> Result<usize, Error> {
    if value > MAX_VARINT {
        return Err(Error::ValueTooLarge);
    }
    let len = varint_len(value);
    let out = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    let mut rest = value;
    for byte in out.iter_mut() {
        *byte = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest != 0 {
            *byte |= 0x80;
        }
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_boundaries_round_trip() {
        // The table in 3.1.1 §2.2.3 / 5.0 §1.5.5.
        let cases: [(u32, &[u8]); 8] = [
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xff, 0xff, 0x7f]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xff, 0xff, 0xff, 0x7f]),
        ];
        for (value, bytes) in cases {
            let mut buf = [0u8; 4];
            let n = encode_varint(value, &mut buf).unwrap();
            assert_eq!(&buf[..n], bytes);
            assert_eq!(decode_varint(bytes).unwrap(), (value, bytes.len()));
            assert_eq!(varint_len(value), bytes.len());
        }
    }

    #[test]
    fn rejects_five_bytes_truncation_and_overflow() {
        assert_eq!(
            decode_varint(&[0xff, 0xff, 0xff, 0xff, 0x7f]),
            Err(Error::MalformedVarInt)
        );
        assert_eq!(decode_varint(&[0x80, 0x80]), Err(Error::Incomplete));
        // Longer than the value needs: 0 in two, 127 in two, 128 in three
        // and 16,383 in four bytes.
        for padded in [
            &[0x80, 0x00][..],
            &[0xff, 0x00],
            &[0x80, 0x81, 0x00],
            &[0xff, 0xff, 0x80, 0x00],
        ] {
            assert_eq!(
                decode_varint(padded),
                Err(Error::MalformedVarInt),
                "{padded:x?}"
            );
        }
        assert_eq!(decode_varint(&[]), Err(Error::Incomplete));
        assert_eq!(
            encode_varint(MAX_VARINT + 1, &mut [0; 4]),
            Err(Error::ValueTooLarge)
        );
        assert_eq!(encode_varint(200, &mut [0; 1]), Err(Error::BufferTooSmall));
    }
}
