//! One error type for the whole engine. Messages say what went wrong and what to do next.
use std::{fmt, path::PathBuf};

#[derive(Debug)]
pub enum Error {
    /// Bad input from the user (arguments, values, shapes); the message names the fix.
    Usage(String),
    /// A file could not be read or written.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The CUDA path was asked for and is unavailable (no driver, no device, no NVRTC).
    NoCuda(String),
    /// A CUDA driver call failed.
    Driver { what: String, detail: String },
    /// cuBLAS failed.
    Cublas { what: String, detail: String },
    /// NVRTC rejected a kernel file; `log` is NVRTC's own output.
    Nvrtc {
        file: String,
        arch: String,
        log: String,
    },
    /// A LAPACK routine returned info != 0 or could not run.
    Lapack(String),
    /// Results that failed a numerical check (NaN, mismatch against a reference).
    Numeric(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub fn driver(what: impl Into<String>, e: impl fmt::Debug) -> Self {
        Error::Driver {
            what: what.into(),
            detail: format!("{e:?}"),
        }
    }
    pub fn cublas(what: impl Into<String>, e: impl fmt::Debug) -> Self {
        Error::Cublas {
            what: what.into(),
            detail: format!("{e:?}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "{m}"),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::NoCuda(m) => write!(
                f,
                "CUDA is not available: {m} (use --device cpu to run on the CPU)"
            ),
            Error::Driver { what, detail } => write!(f, "CUDA driver error in {what}: {detail}"),
            Error::Cublas { what, detail } => write!(f, "cuBLAS error in {what}: {detail}"),
            Error::Nvrtc { file, arch, log } => write!(
                f,
                "NVRTC could not compile kernels/{file}.cu for {arch}:\n{}",
                log.trim_end()
            ),
            Error::Lapack(m) => write!(f, "LAPACK: {m}"),
            Error::Numeric(m) => write!(f, "numerical check failed: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
