//! CUDA context, stream, lazily loaded kernel modules and cuBLAS, behind checks that turn a missing
//! library into an error value (cudarc panics when a library it needs is absent).
pub mod conv;
pub mod conv_tc;
pub mod conv_tc6;
pub mod conv_wgmma;
pub mod cudnn;
pub mod elementwise;
pub mod gemm;
pub mod linear;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod tune;
pub mod waves;
pub mod wgmma;

use super::nvrtc;
use crate::error::{Error, Result};
use crate::kernels;
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DeviceRepr, ValidAsZeroBits,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

pub struct CudaDevice {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    pub ordinal: usize,
    pub name: String,
    /// Compute capability (major, minor).
    pub cc: (i32, i32),
    pub sms: i32,
    pub total_mem: usize,
    pub l2_bytes: usize,
    /// Largest dynamic shared memory one block may opt in to (bytes).
    pub smem_optin: usize,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    /// Kernels whose shared-memory limit was raised: an attribute of the function handle, which lives in
    /// this device's module cache (a second CudaDevice loads its own modules and must raise it again).
    raised: Mutex<HashMap<String, usize>>,
    /// Variants picked by speed ([`tune::pick`]), by key.
    tuned: Mutex<HashMap<String, (usize, String)>>,
    /// Launchers' temporary f32 buffers, by length, for [`CudaDevice::scratch_zeros`].
    scratch: Mutex<HashMap<usize, Vec<CudaSlice<f32>>>>,
    blas: OnceLock<std::result::Result<cudarc::cublas::CudaBlas, String>>,
}

/// Whether the NVIDIA driver library can be loaded at all (no call into it).
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the candidate library names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Number of CUDA devices, or why there are none.
pub fn device_count() -> Result<usize> {
    if !driver_present() {
        return Err(Error::NoCuda(
            "the NVIDIA driver library (libcuda.so) was not found".into(),
        ));
    }
    match CudaContext::device_count() {
        Ok(n) if n > 0 => Ok(n as usize),
        Ok(_) => Err(Error::NoCuda("the driver reports no CUDA device".into())),
        Err(e) => Err(Error::NoCuda(format!(
            "the driver could not be initialised ({e:?})"
        ))),
    }
}

impl CudaDevice {
    pub fn open(ordinal: usize) -> Result<Arc<Self>> {
        let n = device_count()?;
        if ordinal >= n {
            return Err(Error::usage(format!("cuda:{ordinal} does not exist: this machine has {n} CUDA device(s), cuda:0..cuda:{}", n - 1)));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| Error::driver("creating a context", e))?;
        let stream = ctx.default_stream();
        use cudarc::driver::sys::CUdevice_attribute as A;
        let attr = |a| {
            ctx.attribute(a)
                .map_err(|e| Error::driver("reading device attributes", e))
        };
        let cc = ctx
            .compute_capability()
            .map_err(|e| Error::driver("reading the compute capability", e))?;
        let sms = attr(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?;
        let l2 = attr(A::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)?;
        let smem_optin = attr(A::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)?;
        Ok(Arc::new(CudaDevice {
            name: ctx.name().unwrap_or_else(|_| "unknown GPU".into()),
            total_mem: ctx.total_mem().unwrap_or(0),
            cc,
            sms,
            l2_bytes: l2.max(0) as usize,
            smem_optin: smem_optin.max(0) as usize,
            ordinal,
            ctx,
            stream,
            modules: Mutex::new(HashMap::new()),
            raised: Mutex::new(Default::default()),
            tuned: Mutex::new(Default::default()),
            scratch: Mutex::new(Default::default()),
            blas: OnceLock::new(),
        }))
    }

    /// NVRTC target for this device, e.g. `sm_90`.
    pub fn target(&self) -> String {
        format!("sm_{}{}", self.cc.0, self.cc.1)
    }

    /// A kernel from `kernels/<file>.cu`, compiling (or loading from the PTX cache) on first use.
    pub fn function(&self, file: &'static str, name: &str) -> Result<CudaFunction> {
        self.module(file)?
            .load_function(name)
            .map_err(|e| Error::driver(format!("finding kernel {name} in kernels/{file}.cu"), e))
    }

    /// `kernels/<file>.cu` loaded on this device: NVRTC's PTX (or the PTX cache's), which the driver
    /// compiles to machine code on the first load on a machine (conv_tc6: about a minute on an H200 host)
    /// and keeps in its own cache (CUDA_CACHE_PATH) for later processes.
    pub fn module(&self, file: &'static str) -> Result<Arc<cudarc::driver::CudaModule>> {
        let mut mods = self
            .modules
            .lock()
            .map_err(|_| Error::usage("module cache poisoned"))?;
        if let Some(m) = mods.get(file) {
            return Ok(m.clone());
        }
        let kf = kernels::get(file)?;
        // A file written for this architecture's arch-specific features (sm_90a: wgmma) declares that
        // target and is compiled for it.
        let plain = self.target();
        let specific = format!("{plain}a");
        let target = if kf.targets().contains(&specific.as_str()) {
            specific
        } else {
            plain
        };
        // A first use can take minutes (conv_tc6 on an H200 host: NVRTC ~75 s, the driver ~65 s): say where
        // the time went and how to pay it ahead of time.
        const SLOW: f64 = 5.0;
        let t0 = std::time::Instant::now();
        let compiled = nvrtc::compile(&kf, &target, true)?;
        let nvrtc_s = t0.elapsed().as_secs_f64();
        if !compiled.from_cache && nvrtc_s > SLOW {
            eprintln!(
                "note: NVRTC compiled kernels/{file}.cu for {target} in {nvrtc_s:.0} s (kept in {}; `ipdpp kernels --cache --load` compiles every file ahead of time)",
                nvrtc::cache_dir().display()
            );
        }
        let t1 = std::time::Instant::now();
        let m = self
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(compiled.ptx))
            .map_err(|e| Error::driver(format!("loading the PTX of kernels/{file}.cu"), e))?;
        let load_s = t1.elapsed().as_secs_f64();
        if load_s > SLOW {
            eprintln!(
                "note: the driver compiled kernels/{file}.cu to machine code in {load_s:.0} s (its cache keeps it; `ipdpp kernels --load` does this ahead of time)"
            );
        }
        mods.insert(kf.name, m.clone());
        Ok(m)
    }

    /// Raises kernel `name`'s dynamic shared-memory limit to `bytes` (needed above 48 KB). The limit is a
    /// property of the kernel handle, which this device's module cache keeps: set once per device, kernel and
    /// size (a process-wide record once skipped it for the handles of a second device).
    pub fn raise_smem_limit(&self, f: &CudaFunction, name: &str, bytes: usize) -> Result<()> {
        use cudarc::driver::sys::CUfunction_attribute_enum as FnAttr;
        let mut raised = self
            .raised
            .lock()
            .map_err(|_| Error::usage("kernel attribute cache poisoned"))?;
        if raised.get(name).is_none_or(|&b| b < bytes) {
            f.set_attribute(
                FnAttr::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                bytes as i32,
            )
            .map_err(|e| {
                Error::driver(
                    format!("raising the shared-memory limit of {name} to {bytes} bytes"),
                    e,
                )
            })?;
            raised.insert(name.to_string(), bytes);
        }
        Ok(())
    }

    pub fn blas(&self) -> Result<&cudarc::cublas::CudaBlas> {
        let b = self.blas.get_or_init(|| {
            // SAFETY: only tries to dlopen the candidate library names.
            if !unsafe { cudarc::cublas::sys::is_culib_present() } {
                return Err("libcublas (CUDA 13) was not found on the loader path".into());
            }
            cudarc::cublas::CudaBlas::new(self.stream.clone()).map_err(|e| format!("{e:?}"))
        });
        b.as_ref()
            .map_err(|e| Error::NoCuda(format!("cuBLAS unavailable: {e}")))
    }

    pub fn upload<T: DeviceRepr>(&self, data: &[T]) -> Result<CudaSlice<T>> {
        self.stream
            .clone_htod(data)
            .map_err(|e| Error::driver("copying to the GPU", e))
    }
    pub fn download<T: DeviceRepr + Default + Clone>(&self, s: &CudaSlice<T>) -> Result<Vec<T>> {
        self.stream
            .clone_dtoh(s)
            .map_err(|e| Error::driver("copying from the GPU", e))
    }
    pub fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, n: usize) -> Result<CudaSlice<T>> {
        self.stream
            .alloc_zeros(n)
            .map_err(|e| oom_or_driver(e, n * std::mem::size_of::<T>()))
    }
    /// A zeroed temporary of `n` floats for one launcher call (partial sums), reused from earlier calls:
    /// a training step then zeroes its temporaries without allocating and freeing them (122 pairs per
    /// ResNet-18 step before). Reuse is safe on the one stream: a later user's kernels run after the
    /// earlier user's.
    pub fn scratch_zeros(&self, n: usize) -> Result<Scratch<'_>> {
        self.scratch_of(n, true)
    }
    /// [`Self::scratch_zeros`] without the zeroing, for a temporary that its kernel writes whole before
    /// anything reads it (a reused buffer holds what its last user left).
    pub fn scratch(&self, n: usize) -> Result<Scratch<'_>> {
        self.scratch_of(n, false)
    }
    fn scratch_of(&self, n: usize, zero: bool) -> Result<Scratch<'_>> {
        let kept = self
            .scratch
            .lock()
            .map_err(|_| Error::usage("scratch buffer cache poisoned"))?
            .get_mut(&n)
            .and_then(Vec::pop);
        let buf = match kept {
            Some(mut b) => {
                if zero {
                    self.stream
                        .memset_zeros(&mut b)
                        .map_err(|e| Error::driver("zeroing a scratch buffer", e))?;
                }
                b
            }
            None => self.zeros::<f32>(n)?,
        };
        Ok(Scratch {
            dev: self,
            buf: Some(buf),
        })
    }
    pub fn synchronize(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(|e| Error::driver("synchronising the stream", e))
    }
    pub fn free_mem(&self) -> Option<usize> {
        self.ctx.mem_get_info().ok().map(|(f, _)| f)
    }

    /// A grid for grid-stride elementwise kernels: enough blocks to fill the GPU, no more than needed.
    pub fn grid_for(&self, n: usize, block: u32) -> u32 {
        let need = n.div_ceil(block as usize).max(1);
        need.min((self.sms.max(1) as usize) * 32) as u32
    }
}

/// A buffer from [`CudaDevice::scratch_zeros`], given back to the device's cache when dropped.
pub struct Scratch<'a> {
    dev: &'a CudaDevice,
    buf: Option<CudaSlice<f32>>,
}

impl std::ops::Deref for Scratch<'_> {
    type Target = CudaSlice<f32>;
    fn deref(&self) -> &CudaSlice<f32> {
        self.buf
            .as_ref()
            .expect("scratch buffer present until drop")
    }
}

impl std::ops::DerefMut for Scratch<'_> {
    fn deref_mut(&mut self) -> &mut CudaSlice<f32> {
        self.buf
            .as_mut()
            .expect("scratch buffer present until drop")
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        if let (Some(b), Ok(mut pool)) = (self.buf.take(), self.dev.scratch.lock()) {
            pool.entry(b.len()).or_default().push(b);
        }
    }
}

fn oom_or_driver(e: cudarc::driver::DriverError, bytes: usize) -> Error {
    let s = format!("{e:?}");
    if s.contains("OUT_OF_MEMORY") {
        Error::usage(format!(
            "the GPU is out of memory allocating {} MiB; lower the batch size",
            bytes >> 20
        ))
    } else {
        Error::driver("allocating GPU memory", e)
    }
}

pub(crate) fn launch_err(kernel: &str) -> impl Fn(cudarc::driver::DriverError) -> Error + '_ {
    move |e| Error::driver(format!("launching {kernel}"), e)
}

pub(crate) fn check_len(what: &str, got: usize, want: usize) -> Result<()> {
    if got < want {
        return Err(Error::usage(format!(
            "{what}: buffer holds {got} elements, the op needs {want}"
        )));
    }
    Ok(())
}
