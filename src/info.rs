//! `ipdpp info`: what this build and machine can do, for people and scripts.
use crate::device::{self, cuda, nvrtc, DeviceChoice};
use crate::kernels;
use serde::Serialize;

#[derive(Serialize)]
pub struct GpuInfo {
    pub ordinal: usize,
    pub name: String,
    pub compute_capability: String,
    pub sms: i32,
    pub memory_mib: usize,
    pub l2_mib: f64,
}

#[derive(Serialize)]
pub struct KernelInfo {
    pub file: String,
    pub targets: Vec<String>,
    pub entry_points: Vec<String>,
}

#[derive(Serialize)]
pub struct Info {
    pub version: String,
    pub backend: String,
    pub backend_reason: String,
    pub cuda_devices: Vec<GpuInfo>,
    pub cuda_note: Option<String>,
    pub nvrtc_version: Option<String>,
    pub nvrtc_location: Option<String>,
    pub nvrtc_headers: Option<String>,
    pub nvrtc_note: Option<String>,
    pub ptx_cache: String,
    pub lapack: String,
    pub cpu_threads: usize,
    pub kernels: Vec<KernelInfo>,
}

pub fn gather(choice: DeviceChoice) -> Info {
    let (backend, backend_reason) = match device::select(choice) {
        Ok(s) => (s.device.name(), s.reason),
        Err(e) => ("none".into(), e.to_string()),
    };
    let mut cuda_devices = Vec::new();
    let cuda_note = match cuda::device_count() {
        Ok(n) => {
            for i in 0..n {
                match cuda::CudaDevice::open(i) {
                    Ok(d) => cuda_devices.push(GpuInfo {
                        ordinal: i,
                        name: d.name.clone(),
                        compute_capability: format!("{}.{}", d.cc.0, d.cc.1),
                        sms: d.sms,
                        memory_mib: d.total_mem >> 20,
                        l2_mib: d.l2_bytes as f64 / (1 << 20) as f64,
                    }),
                    Err(e) => {
                        return info_with(
                            backend,
                            backend_reason,
                            cuda_devices,
                            Some(e.to_string()),
                        )
                    }
                }
            }
            None
        }
        Err(e) => Some(match e {
            crate::Error::NoCuda(m) => format!("no CUDA device: {m}"),
            other => other.to_string(),
        }),
    };
    info_with(backend, backend_reason, cuda_devices, cuda_note)
}

fn info_with(
    backend: String,
    backend_reason: String,
    cuda_devices: Vec<GpuInfo>,
    cuda_note: Option<String>,
) -> Info {
    let (nv_ver, nv_loc, nv_inc, nv_note) = match nvrtc::nvrtc() {
        Ok(i) => (
            Some(format!("{}.{}", i.version.0, i.version.1)),
            Some(i.location.clone()),
            i.include_dir.as_ref().map(|p| p.display().to_string()),
            None,
        ),
        Err(e) => (None, None, None, Some(e.to_string())),
    };
    Info {
        version: env!("CARGO_PKG_VERSION").to_string(),
        backend,
        backend_reason,
        cuda_devices,
        cuda_note,
        nvrtc_version: nv_ver,
        nvrtc_location: nv_loc,
        nvrtc_headers: nv_inc,
        nvrtc_note: nv_note,
        ptx_cache: nvrtc::cache_dir().display().to_string(),
        lapack: lapack_library(),
        cpu_threads: rayon::current_num_threads(),
        kernels: kernels::all()
            .iter()
            .map(|k| KernelInfo {
                file: format!("kernels/{}.cu", k.name),
                targets: k.targets().iter().map(|s| s.to_string()).collect(),
                entry_points: k.entry_points().iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
    }
}

extern "C" {
    fn openblas_get_config() -> *const std::ffi::c_char;
}

/// The BLAS/LAPACK libraries actually mapped into this process, and OpenBLAS's build configuration.
pub fn lapack_library() -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut libs: Vec<String> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.contains("openblas") || p.contains("lapack") || p.contains("blas"))
        .map(|s| s.to_string())
        .collect();
    libs.sort();
    libs.dedup();
    // SAFETY: openblas_get_config returns a static NUL-terminated string owned by OpenBLAS.
    let cfg = unsafe {
        let p = openblas_get_config();
        if p.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    format!("{} [{}]", libs.join(", "), cfg.trim())
}

pub fn print(i: &Info) {
    println!("ipdpp {}", i.version);
    println!("backend       {}  ({})", i.backend, i.backend_reason);
    if i.cuda_devices.is_empty() {
        println!(
            "GPU           none: {}",
            i.cuda_note.as_deref().unwrap_or("unknown reason")
        );
    }
    for g in &i.cuda_devices {
        println!(
            "GPU cuda:{}    {}, compute capability {}, {} SMs, {} MiB, L2 {:.0} MiB",
            g.ordinal, g.name, g.compute_capability, g.sms, g.memory_mib, g.l2_mib
        );
    }
    match (&i.nvrtc_version, &i.nvrtc_note) {
        (Some(v), _) => {
            println!(
                "NVRTC         {v} from {}",
                i.nvrtc_location.as_deref().unwrap_or("?")
            );
            println!(
                "CUDA headers  {}",
                i.nvrtc_headers
                    .as_deref()
                    .unwrap_or("not found (bf16 kernels will not compile)")
            );
        }
        (None, Some(n)) => println!("NVRTC         unavailable: {n}"),
        _ => {}
    }
    println!("PTX cache     {}", i.ptx_cache);
    println!("LAPACK/BLAS   {}", i.lapack);
    println!("CPU threads   {}", i.cpu_threads);
    println!("kernels       {} files", i.kernels.len());
    for k in &i.kernels {
        println!(
            "  {:<24} [{}] {}",
            k.file,
            k.targets.join(" "),
            k.entry_points.join(", ")
        );
    }
}
