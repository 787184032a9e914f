//! s^e mod n for RSA's public-key operation (RFC 8017 section 5.2.2), on
//! Montgomery multiplication (Montgomery, "Modular multiplication without
//! trial division", 1985) in its CIOS form (Koç, Acar, Kaliski, "Analyzing
//! and comparing Montgomery multiplication algorithms", 1996).
//!
//! Numbers are little-endian arrays of machine words whose length is chosen
//! at run time, so one copy of the code serves every modulus from 2048 to
//! 4096 bits; a fixed-size integer library compiles one per size class
//! (with `crypto-bigint` that was ≈ 25 KB of a device's flash). Everything
//! here handles public values only, so the arithmetic runs in variable
//! time.

use core::ops::{Add, BitOr, Shl, Shr};

use super::rsa::MAX_MODULUS_BITS;

/// The word whose products the target multiplies in one instruction
/// (Cortex-M4: `umaal`, 32 × 32 + 32 + 32 bits).
#[cfg(target_pointer_width = "64")]
type NativeWord = u64;
#[cfg(not(target_pointer_width = "64"))]
type NativeWord = u32;

/// What the arithmetic needs of a machine word. Implemented for `u32` and
/// `u64`, so the host's tests run the firmware's width as well as its own.
trait Word:
    Copy
    + Ord
    + From<u8>
    + From<bool>
    + Add<Output = Self>
    + BitOr<Output = Self>
    + Shl<u32, Output = Self>
    + Shr<u32, Output = Self>
{
    const BITS: u32;
    fn wrapping_mul(self, rhs: Self) -> Self;
    fn wrapping_sub(self, rhs: Self) -> Self;
    fn wrapping_neg(self) -> Self;
    fn overflowing_add(self, rhs: Self) -> (Self, bool);
    fn overflowing_sub(self, rhs: Self) -> (Self, bool);
    fn leading_zeros(self) -> u32;
    fn low_byte(self) -> u8;
    /// (low, high) of a * b + c + d, which always fits two words.
    fn mul_add(a: Self, b: Self, c: Self, d: Self) -> (Self, Self);
}

macro_rules! word {
    ($word:ty, $wide:ty) => {
        impl Word for $word {
            const BITS: u32 = <$word>::BITS;
            fn wrapping_mul(self, rhs: Self) -> Self {
                <$word>::wrapping_mul(self, rhs)
            }
            fn wrapping_sub(self, rhs: Self) -> Self {
                <$word>::wrapping_sub(self, rhs)
            }
            fn wrapping_neg(self) -> Self {
                <$word>::wrapping_neg(self)
            }
            fn overflowing_add(self, rhs: Self) -> (Self, bool) {
                <$word>::overflowing_add(self, rhs)
            }
            fn overflowing_sub(self, rhs: Self) -> (Self, bool) {
                <$word>::overflowing_sub(self, rhs)
            }
            fn leading_zeros(self) -> u32 {
                <$word>::leading_zeros(self)
            }
            fn low_byte(self) -> u8 {
                self as u8
            }
            fn mul_add(a: Self, b: Self, c: Self, d: Self) -> (Self, Self) {
                let wide =
                    <$wide>::from(a) * <$wide>::from(b) + <$wide>::from(c) + <$wide>::from(d);
                (wide as $word, (wide >> <$word>::BITS) as $word)
            }
        }
    };
}

word!(u32, u64);
word!(u64, u128);

/// Words of the largest modulus, in the narrowest word.
const MAX_WORDS: usize = MAX_MODULUS_BITS / 32;

/// A number below the modulus, in its first `Modulus::len` words.
type Number<W> = [W; MAX_WORDS];

/// An odd modulus n > 1 and what Montgomery multiplication modulo it needs,
/// with R = 2^(W::BITS * len).
struct Modulus<W> {
    n: Number<W>,
    /// Words of n.
    len: usize,
    /// -n^-1 mod 2^W::BITS.
    n0_inv: W,
}

/// Why [`pow_mod`] refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PowError {
    /// The modulus is even, below 3, or longer than 4096 bits.
    Modulus,
    /// The base is not below the modulus.
    Base,
}

/// Writes `base`^`exponent` mod `modulus` (all big-endian) into `out`,
/// big-endian, as many bytes as `out` holds (the modulus's length fits it).
pub(crate) fn pow_mod(
    modulus: &[u8],
    base: &[u8],
    exponent: u32,
    out: &mut [u8],
) -> Result<(), PowError> {
    pow_mod_in::<NativeWord>(modulus, base, exponent, out)
}

/// [`pow_mod`] on words `W`.
fn pow_mod_in<W: Word>(
    modulus: &[u8],
    base: &[u8],
    exponent: u32,
    out: &mut [u8],
) -> Result<(), PowError> {
    let m = Modulus::<W>::new(modulus)?;
    let s = from_be::<W>(base).ok_or(PowError::Base)?;
    let zero = W::from(0);
    if s[m.len..].iter().any(|&word| word != zero) || !less_than(&s, &m.n, m.len) {
        return Err(PowError::Base);
    }
    let mut one = [zero; MAX_WORDS];
    one[0] = W::from(1);
    let Some(top) = exponent.checked_ilog2() else {
        // s^0 = 1, and n > 1.
        to_be(&one, out);
        return Ok(());
    };
    // Into Montgomery form (sR mod n), square-and-multiply from the top
    // bit (e = 65537: sixteen squarings, one multiplication), and out
    // again by multiplying with 1.
    let base = m.mul(&s, &m.r_squared());
    let mut acc = base;
    for bit in (0..top).rev() {
        acc = m.mul(&acc, &acc);
        if exponent >> bit & 1 == 1 {
            acc = m.mul(&acc, &base);
        }
    }
    to_be(&m.mul(&acc, &one), out);
    Ok(())
}

impl<W: Word> Modulus<W> {
    fn new(modulus: &[u8]) -> Result<Self, PowError> {
        let n = from_be::<W>(modulus).ok_or(PowError::Modulus)?;
        let zero = W::from(0);
        let len = n
            .iter()
            .rposition(|&word| word != zero)
            .map_or(0, |top| top + 1);
        if n[0].low_byte() & 1 == 0 || (len == 1 && n[0] < W::from(3)) {
            return Err(PowError::Modulus);
        }
        // Newton's iteration for n^-1 mod 2^W::BITS: an odd n is its own
        // inverse modulo 8 (3 bits), and each step doubles the bits.
        let mut inv = n[0];
        for _ in 0..W::BITS.trailing_zeros() - 1 {
            inv = inv
                .wrapping_mul(W::from(2))
                .wrapping_sub(n[0].wrapping_mul(inv).wrapping_mul(inv));
        }
        Ok(Modulus {
            n,
            len,
            n0_inv: inv.wrapping_neg(),
        })
    }

    /// a * b * R^-1 mod n, for a and b below n: word by word of b, t =
    /// (t + a b_i + m n) / 2^W::BITS, with m chosen so that the low word
    /// of the sum is zero (both products in one pass over the words).
    fn mul(&self, a: &Number<W>, b: &Number<W>) -> Number<W> {
        // (`min` tells the compiler what `new` made sure of, so the
        // indexing below needs no bounds checks.)
        let len = self.len.min(MAX_WORDS);
        let n = &self.n;
        // t < 2n: one word above the `len` of n holds its top bits.
        let zero = W::from(0);
        let mut t = [zero; MAX_WORDS + 1];
        for &b_i in &b[..len] {
            let (low, mut carry_ab) = W::mul_add(a[0], b_i, t[0], zero);
            let m = low.wrapping_mul(self.n0_inv);
            let (_, mut carry_mn) = W::mul_add(m, n[0], low, zero);
            for j in 1..len {
                let (sum, carry) = W::mul_add(a[j], b_i, t[j], carry_ab);
                carry_ab = carry;
                (t[j - 1], carry_mn) = W::mul_add(m, n[j], sum, carry_mn);
            }
            let (sum, overflow_ab) = t[len].overflowing_add(carry_ab);
            let (sum, overflow_mn) = sum.overflowing_add(carry_mn);
            t[len - 1] = sum;
            t[len] = W::from(overflow_ab) + W::from(overflow_mn);
        }
        let mut result = [zero; MAX_WORDS];
        result[..len].copy_from_slice(&t[..len]);
        if t[len] != zero || !less_than(&result, &self.n, len) {
            subtract(&mut result, &self.n, len);
        }
        result
    }

    /// R^2 mod n, which takes a number into Montgomery form: R mod n by
    /// doubling 2^(bits - 1), which is below n; 2^j R mod n by j more
    /// doublings; then k Montgomery squarings, each doubling the power of
    /// two, to 2^(j 2^k) R = R^2. With 2^k = W::BITS / 2, j = 2 len: a
    /// doubling costs about one word operation per word, a squaring about
    /// 2 len of them, so both parts cost about the same.
    fn r_squared(&self) -> Number<W> {
        let word_bits = W::BITS as usize;
        let len = self.len;
        let bits = len * word_bits - self.n[len - 1].leading_zeros() as usize;
        let mut x = [W::from(0); MAX_WORDS];
        x[(bits - 1) / word_bits] = W::from(1) << ((bits - 1) % word_bits) as u32;
        let squarings = W::BITS.trailing_zeros() - 1;
        let doublings = len * word_bits - (bits - 1) + ((len * word_bits) >> squarings);
        for _ in 0..doublings {
            self.double(&mut x);
        }
        for _ in 0..squarings {
            x = self.mul(&x, &x);
        }
        x
    }

    /// x = 2x mod n, for x below n.
    fn double(&self, x: &mut Number<W>) {
        let zero = W::from(0);
        let mut carry = zero;
        for word in &mut x[..self.len] {
            let next = *word >> (W::BITS - 1);
            *word = *word << 1 | carry;
            carry = next;
        }
        if carry != zero || !less_than(x, &self.n, self.len) {
            subtract(x, &self.n, self.len);
        }
    }
}

/// Whether a < b, comparing their first `len` words.
fn less_than<W: Word>(a: &Number<W>, b: &Number<W>, len: usize) -> bool {
    a[..len].iter().rev().lt(b[..len].iter().rev())
}

/// a -= b over the first `len` words, wrapping (the caller knows the true
/// result is below 2^(W::BITS len)).
fn subtract<W: Word>(a: &mut Number<W>, b: &Number<W>, len: usize) {
    let mut borrow = false;
    for (a_j, &b_j) in a[..len].iter_mut().zip(&b[..len]) {
        let (difference, borrow_1) = a_j.overflowing_sub(b_j);
        let (difference, borrow_2) = difference.overflowing_sub(W::from(borrow));
        *a_j = difference;
        borrow = borrow_1 || borrow_2;
    }
}

/// A big-endian number as words, or `None` when it is longer than
/// [`MAX_MODULUS_BITS`] (leading zero bytes do not count).
fn from_be<W: Word>(bytes: &[u8]) -> Option<Number<W>> {
    let start = bytes
        .iter()
        .position(|&byte| byte != 0)
        .unwrap_or(bytes.len());
    let bytes = &bytes[start..];
    if bytes.len() > MAX_MODULUS_BITS / 8 {
        return None;
    }
    let mut number = [W::from(0); MAX_WORDS];
    for (word, chunk) in number.iter_mut().zip(bytes.rchunks(W::BITS as usize / 8)) {
        *word = chunk
            .iter()
            .fold(W::from(0), |word, &byte| word << 8 | W::from(byte));
    }
    Some(number)
}

/// The low `out.len()` bytes of `number`, big-endian.
fn to_be<W: Word>(number: &Number<W>, out: &mut [u8]) {
    let word_bytes = W::BITS as usize / 8;
    for (i, byte) in out.iter_mut().rev().enumerate() {
        *byte = number.get(i / word_bytes).map_or(0, |&word| {
            (word >> (8 * (i % word_bytes)) as u32).low_byte()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::TestRng;
    use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
    use crypto_bigint::{Odd, U4096};
    use rand_core::Rng;

    /// [`pow_mod`] on 32- and on 64-bit words, which must agree: the
    /// firmware's width and the host's.
    fn both(modulus: &[u8], base: &[u8], exponent: u32, out: &mut [u8]) -> Result<(), PowError> {
        let mut narrow = out.to_vec();
        let result = pow_mod_in::<u32>(modulus, base, exponent, &mut narrow);
        assert_eq!(pow_mod_in::<u64>(modulus, base, exponent, out), result);
        assert_eq!(narrow[..], out[..]);
        result
    }

    /// The reference: `crypto-bigint`'s fixed 4096-bit Montgomery
    /// arithmetic, which this module replaced in the firmware.
    fn reference(modulus: &[u8], base: &[u8], exponent: u32) -> [u8; 512] {
        let pad = |bytes: &[u8]| {
            let mut padded = [0u8; 512];
            padded[512 - bytes.len()..].copy_from_slice(bytes);
            U4096::from_be_slice(&padded)
        };
        let params = FixedMontyParams::new_vartime(Odd::new(pad(modulus)).into_option().unwrap());
        let result = FixedMontyForm::new(&pad(base), &params)
            .pow(&crypto_bigint::U64::from(u64::from(exponent)))
            .retrieve();
        let mut out = [0u8; 512];
        out.copy_from_slice(result.to_be_bytes().as_slice());
        out
    }

    /// A random odd modulus of exactly `bits` bits, big-endian in as few
    /// bytes as hold it, and a random base below it.
    fn random_case(rng: &mut TestRng, bits: usize) -> (std::vec::Vec<u8>, std::vec::Vec<u8>) {
        let len = bits.div_ceil(8);
        let mut modulus = std::vec![0u8; len];
        rng.fill_bytes(&mut modulus);
        let top_bits = bits - 8 * (len - 1);
        modulus[0] &= 0xff >> (8 - top_bits);
        modulus[0] |= 1 << (top_bits - 1);
        modulus[len - 1] |= 1;
        let mut base = std::vec![0u8; len];
        rng.fill_bytes(&mut base);
        // Below the modulus: one bit shorter.
        base[0] &= ((1u16 << (top_bits - 1)) - 1) as u8;
        (modulus, base)
    }

    #[test]
    fn matches_crypto_bigint_across_sizes_and_exponents() {
        let mut rng = TestRng::new(0x6d6f_6e74);
        let mut cases = 0;
        // Sizes at word boundaries of both word widths and between them.
        for bits in [
            2, 17, 64, 65, 1000, 2047, 2048, 2049, 2080, 3000, 3072, 4064, 4095, 4096,
        ] {
            for exponent in [3, 17, 65_537, 0x8000_0001, u32::MAX, rng.next_u32() | 1] {
                let (modulus, base) = random_case(&mut rng, bits.max(2));
                let mut out = std::vec![0u8; modulus.len()];
                both(&modulus, &base, exponent, &mut out).unwrap();
                let expected = reference(&modulus, &base, exponent);
                assert_eq!(
                    out[..],
                    expected[512 - out.len()..],
                    "{bits} bits, e = {exponent}"
                );
                cases += 1;
            }
        }
        assert_eq!(cases, 14 * 6);
    }

    #[test]
    fn small_cases_by_hand() {
        let pow = |n: u64, s: u64, e: u32| {
            let mut out = [0u8; 8];
            both(&n.to_be_bytes(), &s.to_be_bytes(), e, &mut out).map(|()| u64::from_be_bytes(out))
        };
        // 4^13 mod 497 = 445 (the textbook example); 2^10 mod 1023 = 1.
        assert_eq!(pow(497, 4, 13), Ok(445));
        assert_eq!(pow(1023, 2, 10), Ok(1));
        assert_eq!(pow(3, 2, 1), Ok(2));
        assert_eq!(pow(497, 4, 0), Ok(1));
        assert_eq!(pow(u64::MAX, 0, 65_537), Ok(0));
        assert_eq!(pow(u64::MAX, u64::MAX - 1, 3), Ok(u64::MAX - 1));
        // Against square-and-multiply in u128 modulo 2^64 - 59.
        let p = u64::MAX - 58;
        let naive = |s: u64, e: u32| {
            let (mut acc, mut square, mut e) = (1u128, u128::from(s), e);
            while e > 0 {
                if e & 1 == 1 {
                    acc = acc * square % u128::from(p);
                }
                square = square * square % u128::from(p);
                e >>= 1;
            }
            acc as u64
        };
        for e in [3, 65_537, u32::MAX] {
            assert_eq!(pow(p, 12_345, e), Ok(naive(12_345, e)));
        }
    }

    #[test]
    fn refuses_bad_moduli_and_bases() {
        let mut out = [0u8; 8];
        assert_eq!(both(&[0x10], &[1], 3, &mut out), Err(PowError::Modulus));
        assert_eq!(both(&[1], &[0], 3, &mut out), Err(PowError::Modulus));
        assert_eq!(both(&[], &[0], 3, &mut out), Err(PowError::Modulus));
        assert_eq!(both(&[0x0b], &[0x0b], 3, &mut out), Err(PowError::Base));
        assert_eq!(
            both(&[0x0b], &[0x01, 0x00], 3, &mut out),
            Err(PowError::Base)
        );
        let too_long = [0xffu8; 513];
        assert_eq!(both(&too_long, &[2], 3, &mut out), Err(PowError::Modulus));
        // Leading zero bytes do not count against the length.
        let mut padded = [0u8; 600];
        padded[599] = 0x0b;
        assert_eq!(both(&padded, &[2], 3, &mut out), Ok(()));
        assert_eq!(out[7], 8);
    }

    #[test]
    fn arbitrary_bytes_give_a_result_or_an_error_alike_on_both_widths() {
        let mut rng = TestRng::new(0x686f_7374);
        let (mut results, mut errors) = (0, 0);
        for _ in 0..300 {
            let mut lengths = [0u8; 3];
            rng.fill_bytes(&mut lengths);
            // Up to 600 bytes: past the 512 a modulus may have.
            let mut modulus = std::vec![0u8; usize::from(lengths[0]) * 600 / 255];
            let mut base = std::vec![0u8; usize::from(lengths[1]) * 600 / 255];
            rng.fill_bytes(&mut modulus);
            rng.fill_bytes(&mut base);
            let mut out = std::vec![0u8; usize::from(lengths[2])];
            match both(&modulus, &base, rng.next_u32(), &mut out) {
                Ok(()) => results += 1,
                Err(_) => errors += 1,
            }
        }
        assert!(
            results > 20 && errors > 20,
            "{results} results, {errors} errors"
        );
    }
}
