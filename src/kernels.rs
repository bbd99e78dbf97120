//! The registry of CUDA kernel files embedded by build.rs, with their declared targets and the
//! textual expansion of `#include "x.cuh"` (NVRTC is given one self-contained source).
use crate::error::{Error, Result};

include!(concat!(env!("OUT_DIR"), "/kernel_registry.rs"));

/// Targets compiled when a file does not declare its own.
pub const DEFAULT_TARGETS: &[&str] = &["sm_80", "sm_90"];

#[derive(Clone, Copy, Debug)]
pub struct KernelFile {
    /// File stem: `kernels/<name>.cu`.
    pub name: &'static str,
    pub source: &'static str,
}

pub fn all() -> Vec<KernelFile> {
    KERNEL_SOURCES
        .iter()
        .map(|&(name, source)| KernelFile { name, source })
        .collect()
}

pub fn get(name: &str) -> Result<KernelFile> {
    all().into_iter().find(|k| k.name == name).ok_or_else(|| {
        let names: Vec<_> = all().iter().map(|k| k.name).collect();
        Error::usage(format!(
            "no kernel file kernels/{name}.cu; the registry has: {}",
            names.join(", ")
        ))
    })
}

impl KernelFile {
    /// Targets from the first line, `// targets: sm_80 sm_90`.
    pub fn targets(&self) -> Vec<&'static str> {
        let first = self.source.lines().next().unwrap_or("");
        match first.trim().strip_prefix("// targets:") {
            Some(rest) => rest.split_whitespace().collect(),
            None => DEFAULT_TARGETS.to_vec(),
        }
    }

    /// `extern "C" __global__` functions defined in the file.
    pub fn entry_points(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut rest = self.source;
        while let Some(pos) = rest.find("__global__") {
            let mut after = rest[pos + "__global__".len()..].trim_start();
            after = after.strip_prefix("void").unwrap_or(after).trim_start();
            if let Some(lb) = after.strip_prefix("__launch_bounds__") {
                after = lb.find(')').map(|i| lb[i + 1..].trim_start()).unwrap_or(lb);
            }
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if end > 0 {
                out.push(&after[..end]);
            }
            rest = after;
        }
        out
    }

    /// Source with project headers inlined (each once), ready for NVRTC.
    pub fn expanded(&self) -> Result<String> {
        let mut seen = Vec::new();
        expand(self.name, self.source, &mut seen)
    }
}

fn expand(from: &str, src: &str, seen: &mut Vec<String>) -> Result<String> {
    let mut out = String::with_capacity(src.len() + 4096);
    for line in src.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("#include \"") {
            let inc = rest.split('"').next().unwrap_or("");
            let header = KERNEL_HEADERS.iter().find(|(n, _)| *n == inc);
            match header {
                Some((n, body)) => {
                    if !seen.iter().any(|s| s == n) {
                        seen.push(n.to_string());
                        out.push_str(&expand(n, body, seen)?);
                    }
                    continue;
                }
                None => {
                    return Err(Error::usage(format!(
                        "kernels/{from}: #include \"{inc}\" is not a file in kernels/"
                    )))
                }
            }
        }
        if t.starts_with("#pragma once") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}
