//! Finding NVRTC without LD_LIBRARY_PATH, compiling kernel files to PTX for a target, and the on-disk
//! PTX cache keyed by source hash, target and NVRTC version.
//!
//! libnvrtc opens `libnvrtc-builtins.so.13.0` by name, and cudarc opens libnvrtc by name: loading both by
//! absolute path with RTLD_GLOBAL first makes those by-name lookups find the already-loaded libraries.
use crate::error::{Error, Result};
use crate::kernels::KernelFile;
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const NVRTC_SONAME: &str = "libnvrtc.so.13";

#[derive(Clone, Debug)]
pub struct NvrtcInfo {
    pub version: (i32, i32),
    /// Where the library came from (a path, or "system loader path").
    pub location: String,
    /// Folder with cuda_bf16.h / cuda_fp16.h, when one was found.
    pub include_dir: Option<PathBuf>,
}

static NVRTC: OnceLock<std::result::Result<NvrtcInfo, String>> = OnceLock::new();

fn project_dirs() -> Vec<PathBuf> {
    // Next to the executable (and its ancestors: target/release/.. is the project), then the source
    // tree the binary was built from.
    let mut v = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        let mut d = exe.parent().map(Path::to_path_buf);
        while let Some(p) = d {
            v.push(p.clone());
            d = p.parent().map(Path::to_path_buf);
        }
    }
    v.push(PathBuf::from(env!("IPDPP_SOURCE_DIR")));
    v
}

fn lib_dir_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(p) = std::env::var("IPDPP_NVRTC_DIR") {
        v.push(PathBuf::from(p));
    }
    for d in project_dirs() {
        v.push(d.join(".cuda/nvrtc/nvidia/cu13/lib"));
    }
    if let Ok(h) = std::env::var("CUDA_HOME").or_else(|_| std::env::var("CUDA_PATH")) {
        v.push(PathBuf::from(&h).join("lib64"));
    }
    v.push(PathBuf::from("/usr/local/cuda/lib64"));
    v.push(PathBuf::from("/usr/local/cuda/targets/x86_64-linux/lib"));
    v
}

fn include_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(p) = std::env::var("IPDPP_CUDA_INCLUDE") {
        v.push(PathBuf::from(p));
    }
    for d in project_dirs() {
        v.push(d.join(".cuda/cudart/nvidia/cu13/include"));
    }
    if let Ok(h) = std::env::var("CUDA_HOME").or_else(|_| std::env::var("CUDA_PATH")) {
        v.push(PathBuf::from(&h).join("include"));
    }
    v.push(PathBuf::from("/usr/local/cuda/include"));
    v
}

fn open_global(path: &Path) -> std::result::Result<(), String> {
    // SAFETY: loading NVRTC runs only its library initialisers; the handle is leaked on purpose so the
    // library stays loaded for the life of the process (cudarc keeps its own handle to it).
    let lib = unsafe {
        libloading::os::unix::Library::open(
            Some(path),
            libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL,
        )
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    std::mem::forget(lib);
    Ok(())
}

fn load() -> std::result::Result<NvrtcInfo, String> {
    let mut location = None;
    let mut tried = Vec::new();
    for dir in lib_dir_candidates() {
        let lib = dir.join(NVRTC_SONAME);
        if !lib.exists() {
            continue;
        }
        // Builtins first (any 13.x minor), then NVRTC itself.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if n.starts_with("libnvrtc-builtins.so.13") && !n.ends_with(".alt.so") {
                    let _ = open_global(&e.path());
                }
            }
        }
        match open_global(&lib) {
            Ok(()) => {
                location = Some(lib.display().to_string());
                break;
            }
            Err(e) => tried.push(e),
        }
    }
    // SAFETY: is_culib_present only tries to dlopen candidate names; it never calls into the library.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        let mut msg = String::from(
            "libnvrtc (CUDA 13) was not found; run tools/setup.sh, or set IPDPP_NVRTC_DIR",
        );
        if !tried.is_empty() {
            msg.push_str(&format!(" (failed to load: {})", tried.join("; ")));
        }
        return Err(msg);
    }
    let mut major = 0;
    let mut minor = 0;
    // SAFETY: the library is present (checked above); nvrtcVersion writes two ints.
    let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    if r != cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(format!("nvrtcVersion failed: {r:?}"));
    }
    let include_dir = include_candidates()
        .into_iter()
        .find(|d| d.join("cuda_bf16.h").exists());
    Ok(NvrtcInfo {
        version: (major, minor),
        location: location.unwrap_or_else(|| "system loader path".into()),
        include_dir,
    })
}

/// Loads NVRTC once per process; an error says how to install it.
pub fn nvrtc() -> Result<&'static NvrtcInfo> {
    NVRTC
        .get_or_init(load)
        .as_ref()
        .map_err(|e| Error::NoCuda(e.clone()))
}

/// A compiled kernel file: PTX text plus NVRTC's log (non-empty means warnings).
#[derive(Clone, Debug)]
pub struct Compiled {
    pub ptx: String,
    pub log: String,
    pub from_cache: bool,
}

/// `sm_90` -> `compute_90` (PTX for the virtual architecture; the driver finishes it for the device).
fn virtual_arch(target: &str) -> Result<String> {
    let digits = target
        .strip_prefix("sm_")
        .or_else(|| target.strip_prefix("compute_"));
    match digits {
        Some(d) if !d.is_empty() && d.chars().next().unwrap().is_ascii_digit() => {
            Ok(format!("compute_{d}"))
        }
        _ => Err(Error::usage(format!(
            "unknown CUDA target {target:?}; expected e.g. sm_80 or sm_90a"
        ))),
    }
}

fn options(target: &str, info: &NvrtcInfo) -> Result<Vec<String>> {
    let mut o = vec![
        format!("--gpu-architecture={}", virtual_arch(target)?),
        "--std=c++17".to_string(),
        "--device-as-default-execution-space".to_string(),
        // Keep IEEE division and sqrt: the CPU references are exact fp32.
        "--fmad=true".to_string(),
    ];
    if let Some(inc) = &info.include_dir {
        o.push(format!("--include-path={}", inc.display()));
    }
    if lineinfo_dir().is_some() {
        o.push("--generate-line-info".to_string());
    }
    Ok(o)
}

/// `IPDPP_LINEINFO=1` (read once): kernels compile with line information, under a program name that is
/// the path of their expanded source, written to `<cache>/src/` (what NVRTC compiles: the file with its
/// headers inlined), so a profiler (Nsight Compute's source page, `--import-source yes`) can show each
/// source line's metrics. Lines refer to that expanded file. Off: no line table (a smaller PTX).
pub fn lineinfo_dir() -> Option<PathBuf> {
    static V: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        std::env::var("IPDPP_LINEINFO")
            .is_ok_and(|v| v.trim() == "1")
            .then(|| cache_dir().join("src"))
    })
    .clone()
}

/// The NVRTC program name of kernel file `name` with source `src`: `name.cu`, or under
/// [`lineinfo_dir`] the path the expanded source was written to (where writing fails, `name.cu`).
fn program_name(name: &str, src: &str) -> String {
    let plain = format!("{name}.cu");
    let Some(dir) = lineinfo_dir() else {
        return plain;
    };
    let path = dir.join(&plain);
    let tmp = dir.join(format!("{plain}.tmp{}", std::process::id()));
    let written = std::fs::create_dir_all(&dir).is_ok()
        && std::fs::write(&tmp, src).is_ok()
        && std::fs::rename(&tmp, &path).is_ok();
    if written {
        path.to_string_lossy().into_owned()
    } else {
        plain
    }
}

fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for b in p.iter().chain(&[0xffu8]) {
            h ^= *b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// Where compiled PTX is cached: `$IPDPP_CACHE_DIR`, else `$XDG_CACHE_HOME/ipdpp/ptx`, else
/// `~/.cache/ipdpp/ptx`.
pub fn cache_dir() -> PathBuf {
    if let Ok(d) = std::env::var("IPDPP_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|_| std::env::temp_dir());
    base.join("ipdpp").join("ptx")
}

/// Compiles a kernel file for `target` (e.g. `sm_90`), using the default cache when `use_cache`.
pub fn compile(file: &KernelFile, target: &str, use_cache: bool) -> Result<Compiled> {
    compile_cached(file, target, use_cache.then(cache_dir).as_deref())
}

/// Compiles with an explicit cache folder (`None`: no cache).
pub fn compile_cached(file: &KernelFile, target: &str, cache: Option<&Path>) -> Result<Compiled> {
    let info = nvrtc()?;
    let src = file.expanded()?;
    let opts = options(target, info)?;
    let ver = format!("{}.{}", info.version.0, info.version.1);
    // The include path stays out of the key: its headers (cuda_bf16.h) come with the CUDA version that the
    // NVRTC version stands for, and leaving it out lets PTX compiled on a build machine serve a GPU machine
    // whose toolkit sits elsewhere (tools/gpu-bundle.sh carries it).
    let keyed: Vec<&str> = opts
        .iter()
        .filter(|o| !o.starts_with("--include-path="))
        .map(String::as_str)
        .collect();
    let key = fnv1a64(&[
        src.as_bytes(),
        keyed.join(" ").as_bytes(),
        target.as_bytes(),
        ver.as_bytes(),
    ]);
    let path = cache.map(|d| d.join(format!("{}-{}-{:016x}.ptx", file.name, target, key)));
    if let Some(path) = &path {
        if let Ok(ptx) = std::fs::read_to_string(path) {
            if ptx.contains(".entry") {
                return Ok(Compiled {
                    ptx,
                    log: String::new(),
                    from_cache: true,
                });
            }
        }
    }
    let (ptx, log) = compile_raw(file.name, target, &src, &opts, true)?;
    if let (Some(path), Some(dir)) = (&path, cache) {
        // Best effort and atomic: a failed write only costs a recompile next time.
        let _ = std::fs::create_dir_all(dir);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, &ptx).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }
    Ok(Compiled {
        ptx,
        log,
        from_cache: false,
    })
}

/// What ptxas says of a kernel file compiled for the real architecture `target` (e.g. `sm_90a`): NVRTC
/// compiles to a cubin with `--ptxas-options=-v`, no GPU and no separate ptxas needed. Returns the ptxas
/// lines of the log: per kernel its registers, spills and shared memory, and ptxas's "Potential
/// Performance Loss" notices (C7510-C7520: wgmma serialised, the asynchronous MMA pipeline lost).
pub fn ptxas_report(file: &KernelFile, target: &str) -> Result<String> {
    let info = nvrtc()?;
    virtual_arch(target)?;
    let real = format!("sm_{}", &target[target.find('_').map_or(0, |i| i + 1)..]);
    let mut opts = options(target, info)?;
    opts[0] = format!("--gpu-architecture={real}");
    opts.push("--ptxas-options=-v".to_string());
    let src = file.expanded()?;
    let (_, log) = compile_raw(file.name, target, &src, &opts, false)?;
    Ok(log
        .lines()
        .filter(|l| l.starts_with("ptxas"))
        .map(|l| format!("{l}\n"))
        .collect())
}

/// Compiles `src`; returns the PTX (empty unless `want_ptx`) and the log.
fn compile_raw(
    name: &str,
    target: &str,
    src: &str,
    opts: &[String],
    want_ptx: bool,
) -> Result<(String, String)> {
    use cudarc::nvrtc::result as r;
    let csrc = CString::new(src)
        .map_err(|_| Error::usage(format!("kernels/{name}.cu contains a NUL byte")))?;
    let cname = CString::new(program_name(name, src))
        .map_err(|_| Error::usage("the kernel cache path contains a NUL byte"))?;
    let nv = |e: r::NvrtcError, log: String| Error::Nvrtc {
        file: name.to_string(),
        arch: target.to_string(),
        log: format!("{e:?}\n{log}"),
    };
    let prog = r::create_program(&csrc, Some(&cname)).map_err(|e| nv(e, String::new()))?;
    // SAFETY: `prog` is a live program created above and destroyed exactly once below.
    let compiled = unsafe { r::compile_program(prog, opts) };
    let log = unsafe { r::get_program_log(prog) }
        .map(|v| c_chars_to_string(&v))
        .unwrap_or_default();
    let out = match compiled {
        Ok(()) if !want_ptx => Ok(String::new()),
        Ok(()) => unsafe { r::get_ptx(prog) }
            .map(|v| c_chars_to_string(&v))
            .map_err(|e| nv(e, log.clone())),
        Err(e) => Err(nv(e, log.clone())),
    };
    let _ = unsafe { r::destroy_program(prog) };
    Ok((out?, log))
}

fn c_chars_to_string(v: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = v.iter().map(|&c| c as u8).collect();
    match CStr::from_bytes_until_nul(&bytes) {
        Ok(c) => c.to_string_lossy().into_owned(),
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    }
}
