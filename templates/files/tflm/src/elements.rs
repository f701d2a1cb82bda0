//! Element types Rust has no primitive for: half-precision floats and complex numbers,
//! as TFLite stores them.

/// An IEEE 754 half-precision float (`kTfLiteFloat16`), as its bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct F16(pub u16);

impl F16 {
    /// The value as an `f32` (exact: every half is an `f32`).
    pub fn to_f32(self) -> f32 {
        let bits = u32::from(self.0);
        let sign = (bits & 0x8000) << 16;
        let exponent = (bits >> 10) & 0x1f;
        let mantissa = bits & 0x3ff;
        let magnitude = match (exponent, mantissa) {
            (0, m) => {
                // Zero or subnormal: mantissa * 2^-24, exact in f32.
                let value = m as f32 * f32::from_bits(0x3380_0000);
                return if sign != 0 { -value } else { value };
            }
            (0x1f, m) => 0x7f80_0000 | (m << 13),
            (e, m) => ((e + 127 - 15) << 23) | (m << 13),
        };
        f32::from_bits(sign | magnitude)
    }
}

/// A bfloat16 (`kTfLiteBFloat16`): the upper half of an `f32`'s bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct Bf16(pub u16);

impl Bf16 {
    /// The value as an `f32` (exact).
    pub fn to_f32(self) -> f32 {
        f32::from_bits(u32::from(self.0) << 16)
    }
}

/// A complex number of two `f32`s (`kTfLiteComplex64`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[repr(C)]
pub struct Complex32 {
    /// Real part.
    pub re: f32,
    /// Imaginary part.
    pub im: f32,
}

/// A complex number of two `f64`s (`kTfLiteComplex128`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[repr(C)]
pub struct Complex64 {
    /// Real part.
    pub re: f64,
    /// Imaginary part.
    pub im: f64,
}
