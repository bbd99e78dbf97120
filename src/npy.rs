//! Minimal .npy reader/writer (format versions 1–3, little-endian, C order): f32, f64, i64, i32, u8,
//! bool. Enough for inputs, outputs and the PyTorch golden files; errors name the file.
use crate::error::{Error, Result};
use std::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Npy {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::usage(format!(
        "{}: not a readable .npy file: {msg}",
        path.display()
    ))
}

impl Npy {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn dtype(&self) -> &'static str {
        match self.data {
            NpyData::F32(_) => "float32",
            NpyData::F64(_) => "float64",
            NpyData::I64(_) => "int64",
            NpyData::I32(_) => "int32",
            NpyData::U8(_) => "uint8",
            NpyData::Bool(_) => "bool",
        }
    }
    /// Values as f64 (integers converted exactly up to 2^53).
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            NpyData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::F64(v) => v.clone(),
            NpyData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::I32(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::U8(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
        }
    }
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            NpyData::F32(v) => v.clone(),
            _ => self.to_f64().into_iter().map(|x| x as f32).collect(),
        }
    }
    /// Integer values; floats are accepted only when they hold whole numbers.
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        match &self.data {
            NpyData::I64(v) => Some(v.clone()),
            NpyData::I32(v) => Some(v.iter().map(|&x| x as i64).collect()),
            NpyData::U8(v) => Some(v.iter().map(|&x| x as i64).collect()),
            NpyData::Bool(v) => Some(v.iter().map(|&x| x as i64).collect()),
            _ => {
                let f = self.to_f64();
                f.iter()
                    .all(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                    .then(|| f.iter().map(|&x| x as i64).collect())
            }
        }
    }
}

pub fn read(path: impl AsRef<Path>) -> Result<Npy> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes).map_err(|m| bad(path, m))
}

pub fn parse(bytes: &[u8]) -> std::result::Result<Npy, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("missing the \\x93NUMPY magic".into());
    }
    let major = bytes[6];
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated header".into());
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(format!("unsupported format version {v}")),
    };
    let header = bytes.get(start..start + hlen).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let descr = dict_value(header, "descr").ok_or("header has no 'descr'")?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    let fortran = dict_value(header, "fortran_order").ok_or("header has no 'fortran_order'")?;
    if fortran.trim().starts_with("True") {
        return Err(
            "Fortran-order arrays are not supported; save with np.ascontiguousarray".into(),
        );
    }
    let shape_s = dict_value(header, "shape").ok_or("header has no 'shape'")?;
    let inner = shape_s.trim().trim_start_matches('(');
    let inner = &inner[..inner.find(')').ok_or("malformed shape")?];
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad shape entry {s:?}"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let n: usize = shape.iter().product();
    let body = &bytes[start + hlen..];
    let take = |w: usize| -> std::result::Result<&[u8], String> {
        body.get(..n * w).ok_or_else(|| {
            format!(
                "data holds {} bytes, shape {:?} of {descr} needs {}",
                body.len(),
                shape,
                n * w
            )
        })
    };
    let data = match descr {
        "<f4" => NpyData::F32(
            take(4)?
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        "<f8" => NpyData::F64(
            take(8)?
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        "<i8" => NpyData::I64(
            take(8)?
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        "<i4" => NpyData::I32(
            take(4)?
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        "|u1" => NpyData::U8(take(1)?.to_vec()),
        "|b1" => NpyData::Bool(take(1)?.iter().map(|&b| b != 0).collect()),
        other => {
            return Err(format!(
            "dtype {other} is not supported (use float32, float64, int64, int32, uint8 or bool)"
        ))
        }
    };
    Ok(Npy { shape, data })
}

/// The text after `'key':` in a numpy header dict, up to the next top-level comma.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat1 = format!("'{key}':");
    let pat2 = format!("\"{key}\":");
    let pos = header
        .find(&pat1)
        .map(|p| p + pat1.len())
        .or_else(|| header.find(&pat2).map(|p| p + pat2.len()))?;
    let rest = &header[pos..];
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    Some(rest)
}

fn encode(descr: &str, shape: &[usize], body: &[u8]) -> Vec<u8> {
    let shape_s = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    // Pad so the data starts on a 64-byte boundary, header ends with '\n'.
    let total = 10 + h.len() + 1;
    h.push_str(&" ".repeat((64 - total % 64) % 64));
    h.push('\n');
    let mut out = Vec::with_capacity(10 + h.len() + body.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(body);
    out
}

/// Writes atomically (temporary name, then rename) so a failed run leaves no partial file.
fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("npy.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn check_shape(path: &Path, shape: &[usize], n: usize) -> Result<()> {
    if shape.iter().product::<usize>() != n {
        return Err(Error::usage(format!(
            "{}: shape {shape:?} does not match {n} values",
            path.display()
        )));
    }
    Ok(())
}

pub fn write_f32(path: impl AsRef<Path>, shape: &[usize], v: &[f32]) -> Result<()> {
    let path = path.as_ref();
    check_shape(path, shape, v.len())?;
    write_bytes(path, &encode("<f4", shape, bytemuck::cast_slice(v)))
}

pub fn write_f64(path: impl AsRef<Path>, shape: &[usize], v: &[f64]) -> Result<()> {
    let path = path.as_ref();
    check_shape(path, shape, v.len())?;
    write_bytes(path, &encode("<f8", shape, bytemuck::cast_slice(v)))
}

pub fn write_i64(path: impl AsRef<Path>, shape: &[usize], v: &[i64]) -> Result<()> {
    let path = path.as_ref();
    check_shape(path, shape, v.len())?;
    write_bytes(path, &encode("<i8", shape, bytemuck::cast_slice(v)))
}
