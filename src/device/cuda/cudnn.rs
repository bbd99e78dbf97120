//! cuDNN's convolutions as the library line of `bench conv` (`--versions ...,cudnn`): the vendor library in
//! the same harness as our kernels, as cuBLAS is for the GEMMs, so "faster than the library" is a measured
//! line. NHWC tensors and KRSC filters (our [o][kh][kw][c]), the algorithm cuDNN's own search finds fastest
//! (`cudnnFind*Algorithm`, as `torch.backends.cudnn.benchmark = True`). bf16: bf16 inputs and outputs with
//! fp32 accumulation (cuDNN's BFLOAT16 configuration, what PyTorch's autocast runs); tf32: fp32 tensors with
//! tensor cores allowed (`CUDNN_DEFAULT_MATH`); fp32: no tensor cores (`CUDNN_FMA_MATH`). The library is
//! loaded at run time (`libcudnn.so.9`, e.g. PyTorch's wheel); without it the line says so.
use super::{check_len, CudaDevice};
use crate::device::cpu::conv::ConvSpec;
use crate::device::cuda::conv_tc::ConvPrecision;
use crate::error::{Error, Result};
use cudarc::cudnn::sys as dnn;
use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut, DeviceRepr};
use std::ffi::c_void;

/// Whether a cuDNN library can be loaded (the `cudnn` line then runs).
pub fn available() -> bool {
    // SAFETY: is_culib_present only tries to dlopen candidate names; it never calls into the library.
    unsafe { dnn::is_culib_present() }
}

/// An element type cuDNN reads: fp32, or bf16 as its bits.
pub trait DnnElem: DeviceRepr {
    const TYPE: dnn::cudnnDataType_t;
}
impl DnnElem for f32 {
    const TYPE: dnn::cudnnDataType_t = dnn::cudnnDataType_t::CUDNN_DATA_FLOAT;
}
impl DnnElem for u16 {
    const TYPE: dnn::cudnnDataType_t = dnn::cudnnDataType_t::CUDNN_DATA_BFLOAT16;
}

fn check(st: dnn::cudnnStatus_t, what: &str) -> Result<()> {
    if st == dnn::cudnnStatus_t::CUDNN_STATUS_SUCCESS {
        return Ok(());
    }
    // SAFETY: cudnnGetErrorString returns a static NUL-terminated string for any status.
    let msg = unsafe {
        let p = dnn::cudnnGetErrorString(st);
        if p.is_null() {
            format!("{st:?}")
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    Err(Error::usage(format!("cuDNN {what}: {msg}")))
}

fn int(v: usize, what: &str) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::usage(format!("cuDNN: {what} {v} exceeds its int range")))
}

/// Entries asked of a cudnnFind*Algorithm call (more than cuDNN has of any kind).
const FIND_ASK: i32 = 16;

/// One convolution shape on cuDNN: handle, descriptors, and per op the algorithm found and its workspace.
pub struct LibConv {
    h: dnn::cudnnHandle_t,
    x: dnn::cudnnTensorDescriptor_t,
    y: dnn::cudnnTensorDescriptor_t,
    w: dnn::cudnnFilterDescriptor_t,
    conv: dnn::cudnnConvolutionDescriptor_t,
    s: ConvSpec,
    fwd: Option<(dnn::cudnnConvolutionFwdAlgo_t, usize)>,
    bwd_data: Option<(dnn::cudnnConvolutionBwdDataAlgo_t, usize)>,
    bwd_filter: Option<(dnn::cudnnConvolutionBwdFilterAlgo_t, usize)>,
    ws: Option<CudaSlice<u8>>,
}

impl LibConv {
    /// Descriptors for `s` in precision `p` on `dev`'s stream.
    pub fn new(dev: &CudaDevice, s: &ConvSpec, p: ConvPrecision) -> Result<Self> {
        if !available() {
            return Err(Error::usage(
                "cuDNN is not installed here (libcudnn.so.9 not found; PyTorch's wheel ships one: add its \
                 nvidia/cudnn/lib to LD_LIBRARY_PATH)",
            ));
        }
        let mut l = LibConv {
            h: std::ptr::null_mut(),
            x: std::ptr::null_mut(),
            y: std::ptr::null_mut(),
            w: std::ptr::null_mut(),
            conv: std::ptr::null_mut(),
            s: *s,
            fwd: None,
            bwd_data: None,
            bwd_filter: None,
            ws: None,
        };
        let dt = match p {
            ConvPrecision::Bf16 => dnn::cudnnDataType_t::CUDNN_DATA_BFLOAT16,
            _ => dnn::cudnnDataType_t::CUDNN_DATA_FLOAT,
        };
        let math = match p {
            ConvPrecision::Bf16 => dnn::cudnnMathType_t::CUDNN_TENSOR_OP_MATH,
            ConvPrecision::Tf32 => dnn::cudnnMathType_t::CUDNN_DEFAULT_MATH,
            ConvPrecision::Fp32 => dnn::cudnnMathType_t::CUDNN_FMA_MATH,
        };
        let nhwc = dnn::cudnnTensorFormat_t::CUDNN_TENSOR_NHWC;
        let (n, c, h, w, o) = (
            int(s.n, "batch")?,
            int(s.c, "channels")?,
            int(s.h, "height")?,
            int(s.w, "width")?,
            int(s.o, "output channels")?,
        );
        let (oh, ow) = (int(s.oh(), "output height")?, int(s.ow(), "output width")?);
        // SAFETY: each create writes a fresh handle / descriptor into the field (destroyed in Drop, null ones
        // skipped); each set call takes that descriptor and plain integers / enums; the stream is the
        // device's, alive as long as the device that owns this value's caller.
        unsafe {
            check(dnn::cudnnCreate(&mut l.h), "create")?;
            check(
                dnn::cudnnSetStream(l.h, dev.stream.cu_stream() as dnn::cudaStream_t),
                "set stream",
            )?;
            check(
                dnn::cudnnCreateTensorDescriptor(&mut l.x),
                "tensor descriptor",
            )?;
            check(
                dnn::cudnnCreateTensorDescriptor(&mut l.y),
                "tensor descriptor",
            )?;
            check(
                dnn::cudnnCreateFilterDescriptor(&mut l.w),
                "filter descriptor",
            )?;
            check(
                dnn::cudnnCreateConvolutionDescriptor(&mut l.conv),
                "convolution descriptor",
            )?;
            check(
                dnn::cudnnSetTensor4dDescriptor(l.x, nhwc, dt, n, c, h, w),
                "input descriptor",
            )?;
            check(
                dnn::cudnnSetTensor4dDescriptor(l.y, nhwc, dt, n, o, oh, ow),
                "output descriptor",
            )?;
            check(
                dnn::cudnnSetFilter4dDescriptor(
                    l.w,
                    dt,
                    nhwc,
                    o,
                    c,
                    int(s.kh, "kernel height")?,
                    int(s.kw, "kernel width")?,
                ),
                "filter descriptor",
            )?;
            let (pad, st) = (int(s.pad, "padding")?, int(s.stride, "stride")?);
            check(
                dnn::cudnnSetConvolution2dDescriptor(
                    l.conv,
                    pad,
                    pad,
                    st,
                    st,
                    1,
                    1,
                    dnn::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
                    dnn::cudnnDataType_t::CUDNN_DATA_FLOAT,
                ),
                "convolution descriptor",
            )?;
            check(dnn::cudnnSetConvolutionMathType(l.conv, math), "math type")?;
        }
        Ok(l)
    }

    /// Finds (once) the fastest algorithm of `op` (0 forward, 1 grad-input, 2 grad-weight) and makes room
    /// for its workspace; says which.
    pub fn prepare(&mut self, dev: &CudaDevice, op: usize) -> Result<String> {
        // The fastest successful entry of a cudnnFind*Algorithm call (fastest first) and its workspace.
        macro_rules! find_best {
            ($perf:ty, $what:expr, |$got:ident, $res:ident| $call:expr) => {{
                let mut $got = 0i32;
                let mut r: Vec<$perf> = Vec::with_capacity(FIND_ASK as usize);
                let $res = r.as_mut_ptr();
                // SAFETY: the descriptors were set in new(); the results array holds FIND_ASK entries, of
                // which cuDNN writes `got` <= FIND_ASK.
                unsafe {
                    check($call, $what)?;
                    r.set_len($got.clamp(0, FIND_ASK) as usize);
                }
                r.iter()
                    .find(|p| p.status == dnn::cudnnStatus_t::CUDNN_STATUS_SUCCESS)
                    .map(|p| (p.algo, p.memory))
                    .ok_or_else(|| Error::usage(format!("cuDNN: no {} algorithm for this shape", $what)))?
            }};
        }
        let (h, x, y, w, conv) = (self.h, self.x, self.y, self.w, self.conv);
        let (name, bytes) = match op {
            0 => {
                if self.fwd.is_none() {
                    self.fwd = Some(find_best!(
                        dnn::cudnnConvolutionFwdAlgoPerf_t,
                        "forward",
                        |got, res| {
                            dnn::cudnnFindConvolutionForwardAlgorithm(
                                h, x, w, conv, y, FIND_ASK, &mut got, res,
                            )
                        }
                    ));
                }
                self.fwd.map(|(a, m)| (format!("{a:?}"), m))
            }
            1 => {
                if self.bwd_data.is_none() {
                    self.bwd_data = Some(find_best!(
                        dnn::cudnnConvolutionBwdDataAlgoPerf_t,
                        "grad-input",
                        |got, res| {
                            dnn::cudnnFindConvolutionBackwardDataAlgorithm(
                                h, w, y, conv, x, FIND_ASK, &mut got, res,
                            )
                        }
                    ));
                }
                self.bwd_data.map(|(a, m)| (format!("{a:?}"), m))
            }
            _ => {
                if self.bwd_filter.is_none() {
                    self.bwd_filter = Some(find_best!(
                        dnn::cudnnConvolutionBwdFilterAlgoPerf_t,
                        "grad-weight",
                        |got, res| {
                            dnn::cudnnFindConvolutionBackwardFilterAlgorithm(
                                h, x, y, conv, w, FIND_ASK, &mut got, res,
                            )
                        }
                    ));
                }
                self.bwd_filter.map(|(a, m)| (format!("{a:?}"), m))
            }
        }
        .ok_or_else(|| Error::usage("cuDNN: no algorithm found"))?;
        if bytes > 0 && self.ws.as_ref().is_none_or(|w| w.len() < bytes) {
            self.ws = Some(dev.zeros::<u8>(bytes)?);
        }
        let name = name
            .trim_start_matches("CUDNN_CONVOLUTION_")
            .to_ascii_lowercase();
        Ok(format!("{name}, workspace {bytes} B"))
    }

    /// `op` of [`Self::prepare`] into `out` (overwritten): the forward from (a, b) = (x, w), the
    /// grad-input from (gy, w), the grad-weight from (gy, x); all in one element type, laid out as the
    /// engine's tensors.
    pub fn run<T: DnnElem>(
        &mut self,
        dev: &CudaDevice,
        op: usize,
        out: &mut CudaSlice<T>,
        a: &CudaSlice<T>,
        b: &CudaSlice<T>,
    ) -> Result<()> {
        self.prepare(dev, op)?;
        let s = self.s;
        let (out_len, a_len, b_len) = match op {
            0 => (s.y_len(), s.x_len(), s.w_len()),
            1 => (s.x_len(), s.y_len(), s.w_len()),
            _ => (s.w_len(), s.y_len(), s.x_len()),
        };
        check_len("cuDNN output", out.len(), out_len)?;
        check_len("cuDNN first operand", a.len(), a_len)?;
        check_len("cuDNN second operand", b.len(), b_len)?;
        let (alpha, beta) = (1.0f32, 0.0f32);
        let (al, be) = (
            &alpha as *const f32 as *const c_void,
            &beta as *const f32 as *const c_void,
        );
        let ws_bytes = match op {
            0 => self.fwd.map_or(0, |f| f.1),
            1 => self.bwd_data.map_or(0, |f| f.1),
            _ => self.bwd_filter.map_or(0, |f| f.1),
        };
        let (o, _go) = out.device_ptr_mut(&dev.stream);
        let (pa, _ga) = a.device_ptr(&dev.stream);
        let (pb, _gb) = b.device_ptr(&dev.stream);
        let ws = match (&mut self.ws, ws_bytes) {
            (Some(w), n) if n > 0 => Some(w.device_ptr_mut(&dev.stream)),
            _ => None,
        };
        let wsp = ws
            .as_ref()
            .map_or(std::ptr::null_mut(), |(p, _)| *p as *mut c_void);
        let (o, pa, pb) = (o as *mut c_void, pa as *const c_void, pb as *const c_void);
        // SAFETY: the descriptors describe these tensors (lengths checked above against the same spec), the
        // element type is the descriptors' (T: DnnElem as `new`'s precision sets them: the bench passes f32
        // tensors for fp32 / tf32 and bf16 bits for bf16), the workspace holds the bytes the search asked for
        // (prepare), alpha and beta are fp32 as the FLOAT compute type requires; all on the handle's stream.
        let st = unsafe {
            match op {
                0 => dnn::cudnnConvolutionForward(
                    self.h,
                    al,
                    self.x,
                    pa,
                    self.w,
                    pb,
                    self.conv,
                    self.fwd
                        .map(|f| f.0)
                        .ok_or_else(|| Error::usage("cuDNN: no forward algorithm"))?,
                    wsp,
                    ws_bytes,
                    be,
                    self.y,
                    o,
                ),
                1 => dnn::cudnnConvolutionBackwardData(
                    self.h,
                    al,
                    self.w,
                    pb,
                    self.y,
                    pa,
                    self.conv,
                    self.bwd_data
                        .map(|f| f.0)
                        .ok_or_else(|| Error::usage("cuDNN: no grad-input algorithm"))?,
                    wsp,
                    ws_bytes,
                    be,
                    self.x,
                    o,
                ),
                _ => dnn::cudnnConvolutionBackwardFilter(
                    self.h,
                    al,
                    self.x,
                    pb,
                    self.y,
                    pa,
                    self.conv,
                    self.bwd_filter
                        .map(|f| f.0)
                        .ok_or_else(|| Error::usage("cuDNN: no grad-weight algorithm"))?,
                    wsp,
                    ws_bytes,
                    be,
                    self.w,
                    o,
                ),
            }
        };
        check(st, ["forward", "grad-input", "grad-weight"][op.min(2)])
    }
}

impl Drop for LibConv {
    fn drop(&mut self) {
        // SAFETY: each non-null descriptor / handle was created in new() and is destroyed once here.
        unsafe {
            if !self.conv.is_null() {
                dnn::cudnnDestroyConvolutionDescriptor(self.conv);
            }
            if !self.w.is_null() {
                dnn::cudnnDestroyFilterDescriptor(self.w);
            }
            for t in [self.x, self.y] {
                if !t.is_null() {
                    dnn::cudnnDestroyTensorDescriptor(t);
                }
            }
            if !self.h.is_null() {
                dnn::cudnnDestroy(self.h);
            }
        }
    }
}
