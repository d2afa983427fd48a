//! NumPy `.npy` files (format version 1.0), little-endian, C order: what `numpy.load` reads.

use std::io::Write;
use std::path::Path;

use crate::DataError;

/// Element types we store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// 32-bit float (`<f4`).
    F32,
    /// 64-bit float (`<f8`).
    F64,
    /// 32-bit signed integer (`<i4`).
    I32,
    /// Byte (`|u1`).
    U8,
}

impl Dtype {
    fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
            Dtype::I32 => "<i4",
            Dtype::U8 => "|u1",
        }
    }

    fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 => 8,
            Dtype::U8 => 1,
        }
    }

    fn from_descr(d: &str) -> Option<Self> {
        match d {
            "<f4" => Some(Dtype::F32),
            "<f8" => Some(Dtype::F64),
            "<i4" => Some(Dtype::I32),
            "|u1" | "<u1" => Some(Dtype::U8),
            _ => None,
        }
    }
}

/// An array read from or written to a `.npy` file: shape and raw little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// Element type.
    pub dtype: Dtype,
    /// Shape (C order).
    pub shape: Vec<usize>,
    /// Little-endian element bytes.
    pub bytes: Vec<u8>,
}

impl Array {
    /// A float64 array from rows of equal length (`[rows, cols]`).
    pub fn f64_rows(rows: &[Vec<f64>], cols: usize) -> Self {
        let bytes = rows
            .iter()
            .flat_map(|r| r.iter().flat_map(|v| v.to_le_bytes()))
            .collect();
        Self {
            dtype: Dtype::F64,
            shape: vec![rows.len(), cols],
            bytes,
        }
    }

    /// A float64 vector.
    pub fn f64_vec(values: &[f64]) -> Self {
        Self {
            dtype: Dtype::F64,
            shape: vec![values.len()],
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// An int32 vector.
    pub fn i32_vec(values: &[i32]) -> Self {
        Self {
            dtype: Dtype::I32,
            shape: vec![values.len()],
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// The elements as f64 (for F64 arrays).
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        (self.dtype == Dtype::F64).then(|| {
            self.bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect()
        })
    }

    /// The elements as i32 (for I32 arrays).
    pub fn to_i32(&self) -> Option<Vec<i32>> {
        (self.dtype == Dtype::I32).then(|| {
            self.bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
    }

    /// Rows of a 2-D F64 array.
    pub fn to_f64_rows(&self) -> Option<Vec<Vec<f64>>> {
        let cols = *self.shape.get(1)?;
        let flat = self.to_f64()?;
        if cols == 0 {
            return Some(vec![Vec::new(); self.shape[0]]);
        }
        Some(flat.chunks(cols).map(<[f64]>::to_vec).collect())
    }

    /// Serialises to `.npy` bytes.
    pub fn to_npy(&self) -> Vec<u8> {
        let shape = match self.shape.len() {
            1 => format!("({},)", self.shape[0]),
            _ => format!(
                "({})",
                self.shape
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut header = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
            self.dtype.descr()
        );
        // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = Vec::with_capacity(10 + header.len() + self.bytes.len());
        out.extend_from_slice(b"\x93NUMPY\x01\x00");
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&self.bytes);
        out
    }

    /// Parses `.npy` bytes (version 1.0 or 2.0, C order, the dtypes of [`Dtype`]).
    pub fn from_npy(data: &[u8], what: &Path) -> Result<Self, DataError> {
        let bad = |m: &str| DataError::Format {
            path: what.to_path_buf(),
            what: m.to_owned(),
        };
        if data.len() < 10 || &data[..6] != b"\x93NUMPY" {
            return Err(bad("not a .npy file (bad magic)"));
        }
        let (len, start) = match data[6] {
            1 => (u16::from_le_bytes([data[8], data[9]]) as usize, 10),
            2 if data.len() >= 12 => (
                u32::from_le_bytes([data[8], data[9], data[10], data[11]]) as usize,
                12,
            ),
            _ => return Err(bad("unsupported .npy version")),
        };
        let header = data
            .get(start..start + len)
            .and_then(|h| std::str::from_utf8(h).ok())
            .ok_or_else(|| bad("truncated header"))?;
        let field = |key: &str| -> Option<&str> {
            let i = header.find(&format!("'{key}'"))? + key.len() + 2;
            let rest = header[i..].trim_start().strip_prefix(':')?.trim_start();
            Some(rest)
        };
        let descr = field("descr")
            .and_then(|r| r.strip_prefix('\''))
            .and_then(|r| r.split('\'').next())
            .ok_or_else(|| bad("no descr"))?;
        let dtype = Dtype::from_descr(descr).ok_or_else(|| bad(&format!("dtype {descr}")))?;
        if field("fortran_order").is_some_and(|r| r.starts_with("True")) {
            return Err(bad("Fortran order is not supported"));
        }
        let shape_text = field("shape")
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.split(')').next())
            .ok_or_else(|| bad("no shape"))?;
        let shape = shape_text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<usize>().map_err(|_| bad("bad shape")))
            .collect::<Result<Vec<_>, _>>()?;
        let count: usize = shape.iter().product();
        let body = &data[start + len..];
        if body.len() != count * dtype.size() {
            return Err(bad(&format!(
                "{} data bytes for shape {shape:?} of {descr}",
                body.len()
            )));
        }
        Ok(Self {
            dtype,
            shape,
            bytes: body.to_vec(),
        })
    }

    /// Writes the array to `path`.
    pub fn write(&self, path: &Path) -> Result<(), DataError> {
        let mut f = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
        f.write_all(&self.to_npy())
            .and_then(|()| f.sync_all())
            .map_err(|e| DataError::io(path, e))
    }

    /// Reads the array at `path`.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let data = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        Self::from_npy(&data, path)
    }
}
