//! ResNet-18/34 (CIFAR stem: 3×3 conv stride 1, no max-pool; 1×1-conv + BN shortcuts) and ResNet-32
//! (16/32/64 channels, 5 blocks per stage, option-A shortcuts), with the projector MLP.
//!
//! The network is a fixed list of nodes over activation slots. The two views of a batch are forwarded
//! together as one batch of 2B images whose batch-norm layers keep separate statistics per view
//! (`groups` = 2): the same numbers as forwarding each view on its own, as the official code does, with
//! one backward pass and twice the GEMM size.
//!
//! Fused batch-norm tails ([`ResNet::set_fused_bn`]; default on, or off for every new network when the
//! environment sets `IPDPP_FUSED_BN=0`): BN → ReLU runs as `batchnorm_relu` and the residual tail
//! BN → add → ReLU as `batchnorm_add_relu` (norm.cu v2: one elementwise pass each way after the
//! statistics, instead of three to five). The node list stays the same; a fused op runs at its first
//! node in the forward (at the add for the residual tail, once the shortcut is ready), the nodes it
//! absorbs do nothing, and the intermediate activations (BN output, sum) are not written. On the CPU
//! the fused references are compositions of the unfused ones, so both settings give the same bits
//! there. The fused CUDA kernels passed their tests on an H200 (2026-11-27).
use super::param::{Param, ParamKind};
use crate::device::cpu::conv::{ohwi_to_oihw, oihw_to_ohwi, ConvSpec};
use crate::device::cpu::norm::BnSpec;
use crate::device::cuda::conv_tc::{self, ConvPrecision, TcVersion};
use crate::device::cuda::conv_tc6::{Bf16Copy, BnPartials, DevCopy};
use crate::device::cuda::elementwise::{AdamwTable, AdamwTensor};
use crate::device::cuda::CudaDevice;
use crate::device::nn_ops::{self, BnBuffers, BnTailVersion, ScBn, ScBnBwd, ScBnStats};
use crate::device::ops;
use crate::device::{Buffer, Device};
use crate::error::{Error, Result};
use crate::optim::AdamW;
use rand::{RngExt, SeedableRng};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Arch {
    ResNet18,
    ResNet34,
    /// He et al.'s CIFAR ResNets (6n + 2 layers): ResNet-8 (n = 1, the small demo network),
    /// ResNet-20 (n = 3) and ResNet-32 (n = 5, the classic long-tail backbone).
    ResNet8,
    ResNet20,
    ResNet32,
}

impl std::str::FromStr for Arch {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "resnet18" => Ok(Arch::ResNet18),
            "resnet34" => Ok(Arch::ResNet34),
            "resnet32" => Ok(Arch::ResNet32),
            _ => Err(Error::usage(format!(
                "unknown architecture {s:?}; use resnet18, resnet34 or resnet32"
            ))),
        }
    }
}

impl Arch {
    /// Encoder feature width (input of the projector and of the linear classifier).
    pub fn feature_dim(&self) -> usize {
        if self.is_cifar_family() {
            64
        } else {
            512
        }
    }
    /// The 16/32/64-channel family with option-A shortcuts.
    pub fn is_cifar_family(&self) -> bool {
        matches!(self, Arch::ResNet8 | Arch::ResNet20 | Arch::ResNet32)
    }
    pub fn name(&self) -> &'static str {
        match self {
            Arch::ResNet18 => "resnet18",
            Arch::ResNet34 => "resnet34",
            Arch::ResNet8 => "resnet8",
            Arch::ResNet20 => "resnet20",
            Arch::ResNet32 => "resnet32",
        }
    }
    /// Projector hidden width: 2048 for ResNet-18/34, 512 for ResNet-32 (METHOD.md).
    pub fn proj_hidden(&self) -> usize {
        if self.is_cifar_family() {
            512
        } else {
            2048
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// A hook called around every node of [`ResNet::forward`] and of the backward passes (node index into
/// [`ResNet::node_info`], `backward` false in the forward). Used by `ipdpp bench resnet` to time each op
/// (CUDA events on the GPU, wall clock on the CPU) and to write traces; errors stay inside the hook.
pub trait NodeProfiler: Send {
    fn begin(&mut self, node: usize, backward: bool);
    fn end(&mut self, node: usize, backward: bool);
}

/// Description of one node for reports: a unique name (PyTorch-style module path), the op, its shape,
/// and nominal FLOPs per image (convolutions and linears only; 0 for memory-bound ops).
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeInfo {
    pub name: String,
    pub op: String,
    pub shape: String,
    pub fwd_flops_per_image: f64,
    pub bwd_flops_per_image: f64,
    /// Convolutions: the kernel generation of forward / grad-input / grad-weight on this device
    /// ("-" where no grad-input is computed); empty for other ops.
    pub kernels: String,
}

#[derive(Clone, Debug)]
enum Node {
    /// `inp`'s spatial size is (h, w); batch size comes from the forward call.
    Conv {
        p: usize,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
        h: usize,
        w: usize,
        inp: usize,
        out: usize,
    },
    Bn {
        gamma: usize,
        beta: usize,
        st: usize,
        c: usize,
        hw: usize,
        inp: usize,
        out: usize,
    },
    Relu {
        inp: usize,
        out: usize,
    },
    Add {
        a: usize,
        b: usize,
        out: usize,
    },
    ShortcutA {
        h: usize,
        w: usize,
        c: usize,
        pad: usize,
        inp: usize,
        out: usize,
    },
    Pool {
        hw: usize,
        c: usize,
        inp: usize,
        out: usize,
    },
    Linear {
        w: usize,
        b: usize,
        din: usize,
        dout: usize,
        inp: usize,
        out: usize,
    },
}

/// How a node runs when batch-norm fusion is on ([`ResNet::set_fused_bn`]); planned once from the node
/// list ([`plan_fusions`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fuse {
    /// Runs as itself.
    No,
    /// A BN node whose output feeds only the next node, a ReLU: runs `batchnorm_relu` into the ReLU's
    /// output slot (forward and backward).
    BnRelu { relu_out: usize },
    /// An add node whose first input is the output of BN node `bn` (used nowhere else) and whose sum
    /// feeds only the next node, a ReLU: runs `batchnorm_add_relu` into the ReLU's output slot. With
    /// `sc_bn` (SBN, [`sc_bn_default`]), the shortcut is the output of that BN node (a projection
    /// shortcut's, used nowhere else), which the tail applies to the shortcut convolution's output itself.
    BnAddRelu {
        bn: usize,
        relu_out: usize,
        sc_bn: Option<usize>,
    },
    /// A projection shortcut's BN node whose output an SBN tail computes: its statistics only (training).
    ScStats,
    /// Part of a fused op that runs at another node: nothing to do here.
    Absorbed,
}

/// Slots a node reads.
fn node_inputs(n: &Node) -> Vec<usize> {
    match *n {
        Node::Conv { inp, .. }
        | Node::Bn { inp, .. }
        | Node::Relu { inp, .. }
        | Node::ShortcutA { inp, .. }
        | Node::Pool { inp, .. }
        | Node::Linear { inp, .. } => vec![inp],
        Node::Add { a, b, .. } => vec![a, b],
    }
}

/// The fusion plan: BN → ReLU pairs and BN → add → ReLU tails whose intermediate slots nothing else
/// reads (so skipping them changes no other node's input); with `sc_bn`, a tail whose shortcut is such a
/// BN output takes that BN in as well.
fn plan_fusions(nodes: &[Node], slots: usize, sc_bn: bool) -> Vec<Fuse> {
    let mut uses = vec![0usize; slots];
    let mut producer = vec![usize::MAX; slots];
    for (i, n) in nodes.iter().enumerate() {
        for s in node_inputs(n) {
            uses[s] += 1;
        }
        let out = match *n {
            Node::Conv { out, .. }
            | Node::Bn { out, .. }
            | Node::Relu { out, .. }
            | Node::Add { out, .. }
            | Node::ShortcutA { out, .. }
            | Node::Pool { out, .. }
            | Node::Linear { out, .. } => out,
        };
        producer[out] = i;
    }
    let mut plan = vec![Fuse::No; nodes.len()];
    for i in 0..nodes.len() {
        let next_relu = |inp_of: usize| match nodes.get(i + 1) {
            Some(&Node::Relu { inp, out }) if inp == inp_of && uses[inp_of] == 1 => Some(out),
            _ => None,
        };
        match nodes[i] {
            Node::Bn { out, .. } if plan[i] == Fuse::No => {
                if let Some(relu_out) = next_relu(out) {
                    plan[i] = Fuse::BnRelu { relu_out };
                    plan[i + 1] = Fuse::Absorbed;
                }
            }
            Node::Add { a, b, out } => {
                let k = producer[a];
                let bn_ok = matches!(nodes.get(k), Some(&Node::Bn { inp, .. }) if inp != b)
                    && k < i
                    && uses[a] == 1
                    && a != b
                    && plan[k] == Fuse::No;
                if let (true, Some(relu_out)) = (bn_ok, next_relu(out)) {
                    let ks = producer[b];
                    let sc_bn = (sc_bn
                        && matches!(nodes.get(ks), Some(&Node::Bn { inp, .. }) if inp != a && inp != b)
                        && ks < i
                        && ks != k
                        && uses[b] == 1
                        && plan[ks] == Fuse::No)
                        .then_some(ks);
                    plan[i] = Fuse::BnAddRelu {
                        bn: k,
                        relu_out,
                        sc_bn,
                    };
                    plan[k] = Fuse::Absorbed;
                    plan[i + 1] = Fuse::Absorbed;
                    if let Some(ks) = sc_bn {
                        plan[ks] = Fuse::ScStats;
                    }
                }
            }
            _ => {}
        }
    }
    plan
}

/// The fusion plan of a node list and what follows from it for the buffers (see [`ResNet`]'s fields).
struct Plan {
    fusion: Vec<Fuse>,
    fused_unused: Vec<bool>,
    feeds_bf16_conv: Vec<bool>,
    consumers: Vec<Vec<usize>>,
    conv_output: Vec<Option<usize>>,
    relu_tail_bn: Vec<Option<usize>>,
    tail_input: Vec<bool>,
}

impl Plan {
    fn new(nodes: &[Node], slot_size: &[usize], sc_bn: bool) -> Plan {
        let fusion = plan_fusions(nodes, slot_size.len(), sc_bn);
        // Slots that fused batch-norm tails never write: a BN output read only by its ReLU (or add), and
        // the sum of a fused BN + add + ReLU.
        let mut fused_unused = vec![false; slot_size.len()];
        for (i, f) in fusion.iter().enumerate() {
            let bn_out = |k: usize| match nodes[k] {
                Node::Bn { out, .. } => Some(out),
                _ => None,
            };
            match (*f, &nodes[i]) {
                (Fuse::BnRelu { .. }, _) => {
                    fused_unused[bn_out(i).expect("planned at a BN node")] = true
                }
                (Fuse::BnAddRelu { bn, sc_bn, .. }, &Node::Add { out, .. }) => {
                    fused_unused[bn_out(bn).expect("planned from a BN node")] = true;
                    fused_unused[out] = true;
                    if let Some(k) = sc_bn {
                        fused_unused[bn_out(k).expect("planned from a BN node")] = true;
                    }
                }
                _ => {}
            }
        }
        let mut feeds_bf16_conv = vec![false; slot_size.len()];
        let mut consumers = vec![Vec::new(); slot_size.len()];
        for (i, n) in nodes.iter().enumerate() {
            for s in node_inputs(n) {
                consumers[s].push(i);
            }
        }
        let mut conv_output = vec![None; slot_size.len()];
        for (i, n) in nodes.iter().enumerate() {
            if let Node::Conv { inp, cin, out, .. } = *n {
                feeds_bf16_conv[inp] |= cin % 8 == 0;
                conv_output[out] = Some(i);
            }
        }
        let fused_tail_bn = |k: usize| {
            matches!(fusion[k], Fuse::BnRelu { .. } | Fuse::ScStats)
                || fusion
                    .iter()
                    .any(|f| matches!(*f, Fuse::BnAddRelu { bn, .. } if bn == k))
        };
        let mut relu_tail_bn = vec![None; slot_size.len()];
        for (k, f) in fusion.iter().enumerate() {
            if let Fuse::BnRelu { relu_out } = *f {
                relu_tail_bn[relu_out] = Some(k);
            }
        }
        let tail_input = (0..slot_size.len())
            .map(|s| {
                conv_output[s].is_some()
                    && matches!(consumers[s].as_slice(), &[k] if fused_tail_bn(k)
                            && matches!(nodes[k], Node::Bn { c, .. } if c % 4 == 0))
            })
            .collect();
        Plan {
            fusion,
            fused_unused,
            feeds_bf16_conv,
            consumers,
            conv_output,
            relu_tail_bn,
            tail_input,
        }
    }
}

/// The fields of a BN node that a fused tail reads.
struct BnFields {
    gamma: usize,
    beta: usize,
    st: usize,
    c: usize,
    hw: usize,
    inp: usize,
}

fn bn_fields(n: &Node) -> Option<BnFields> {
    match *n {
        Node::Bn {
            gamma,
            beta,
            st,
            c,
            hw,
            inp,
            ..
        } => Some(BnFields {
            gamma,
            beta,
            st,
            c,
            hw,
            inp,
        }),
        _ => None,
    }
}

/// Whether new networks on `dev` fuse a projection shortcut's batch norm into the residual tail (SBN,
/// [`Fuse::BnAddRelu`]'s `sc_bn`): its output is never stored, and its backward runs inside the tail's
/// (the shortcut convolution's gradient directly, one more per-channel sum). On the CPU by default (the
/// same bits: the reference composes the unfused ops); on a GPU opt-in until validated there (written
/// without a GPU, 2026-11-28). `IPDPP_SC_BN=1|0` sets it for both; read once.
pub fn sc_bn_default(dev: &Device) -> bool {
    static V: std::sync::OnceLock<Option<bool>> = std::sync::OnceLock::new();
    V.get_or_init(|| env_switch("IPDPP_SC_BN"))
        .unwrap_or(!dev.is_cuda())
}

/// An on/off environment switch: Some(true) for 1/true/on/yes (or empty), Some(false) for 0/false/off/no,
/// None when unset or unreadable (with a warning: the caller's default stays).
fn env_switch(name: &str) -> Option<bool> {
    let v = std::env::var(name).ok()?;
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" => Some(false),
        other => {
            eprintln!("warning: {name}={other:?} is neither 0 nor 1; its default stays");
            None
        }
    }
}

/// Whether a GPU network's AdamW step runs as one launch for every tensor (`adamw_multi_f32`) instead of
/// one per tensor: `IPDPP_ADAMW_MULTI=1` (opt-in: written without a GPU, 2026-11-28); read once.
fn adamw_multi() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("IPDPP_ADAMW_MULTI").is_ok_and(|v| v.trim() == "1"))
}

/// Whether new networks fuse their batch-norm tails: on by default (norm.cu v2 passed its tests on an
/// H200, 2026-11-27, and took a ResNet-18 bf16 step with v6 from 99.2 to 89.4 ms; on the CPU the fused
/// path gives the same bits as the unfused one); `IPDPP_FUSED_BN=0` (or false/off/no) turns it off for
/// A/B runs; read once.
pub fn fused_bn_default() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| env_switch("IPDPP_FUSED_BN").unwrap_or(true))
}

/// Running statistics and the saved batch statistics of one batch-norm layer.
struct BnState {
    name: String,
    c: usize,
    running_mean: Buffer,
    running_var: Buffer,
    mean: Buffer,
    rstd: Buffer,
}

pub struct ResNet {
    pub arch: Arch,
    pub params: Vec<Param>,
    bn: Vec<BnState>,
    nodes: Vec<Node>,
    /// Elements per image of every activation slot; slot 0 is the input image.
    slot_size: Vec<usize>,
    /// Slot of the pooled encoder features and of the projector output.
    pub feat_slot: usize,
    pub out_slot: usize,
    /// Index of the first projector node (an eval forward for features stops before it).
    proj_start: usize,
    acts: Vec<Buffer>,
    grads: Vec<Buffer>,
    scratch: HashMap<usize, Buffer>,
    batch: usize,
    groups: usize,
    dev: Device,
    /// Optional per-node timing hook (benchmarks and traces); `None` costs nothing.
    profiler: Option<Box<dyn NodeProfiler>>,
    /// Numeric mode of the convolutions on a GPU (fp32: conv.cu v2; tf32/bf16: the tensor-core kernels)
    /// and the tensor-core kernel generation asked for (`TcVersion::current()` unless set).
    conv_precision: ConvPrecision,
    conv_version: TcVersion,
    /// Fused batch-norm tails on ([`ResNet::set_fused_bn`]) and the plan they follow; `sc_bn`: the plan
    /// fuses projection shortcuts' batch norms into the tails ([`ResNet::set_sc_bn`]).
    fused_bn: bool,
    sc_bn: bool,
    fusion: Vec<Fuse>,
    /// The setting the last forward ran with (its backward must follow the same plan).
    fused_last: bool,
    /// bf16 copies for the v6 convolutions: of activation slots (shared by the convolutions reading a
    /// slot, kept from forward to backward), of conv weights by parameter, and of the output gradient
    /// of the convolution being differentiated. All are marked stale when a forward starts.
    act_bf16: Vec<Bf16Copy>,
    /// Slots that the fused batch-norm tails leave unused (no buffer while fusion is on), and the fusion
    /// setting the activation buffers were allocated for.
    fused_unused: Vec<bool>,
    alloc_fused: bool,
    /// The batch size and precision `conv_tc::tune_v6_v7` last measured (under `IPDPP_V7_AUTO=1`).
    v6_v7_tuned: Option<(usize, ConvPrecision)>,
    /// Slots read by a convolution whose channels v6 takes (C % 8 == 0): the fused batch-norm tails
    /// write their bf16 copies in the same pass when v6 runs.
    feeds_bf16_conv: Vec<bool>,
    /// Slots written by a convolution (a v3 tail hands such a slot's bf16 gradient copy to it): the
    /// convolution's node.
    conv_output: Vec<Option<usize>>,
    w_bf16: HashMap<usize, Bf16Copy>,
    /// v7's grad-input operand: each conv weight's bf16 copy transposed (IHWO), stale with `w_bf16`.
    wt_bf16: HashMap<usize, Bf16Copy>,
    /// tf32 v7's: each conv weight transposed, stale with `w_bf16`.
    wt_f32: HashMap<usize, DevCopy<f32>>,
    gy_bf16: Bf16Copy,
    /// The gradient slot whose bf16 copy `gy_bf16` holds, when a v3 batch-norm tail wrote it with the
    /// gradient (the convolution producing that slot then skips its cast).
    gy_bf16_of: Option<usize>,
    /// v3 tails of the last backward that wrote only that copy (no fp32 gradient: its convolution reads
    /// nothing else).
    copy_only_tails: usize,
    /// Consumer nodes of each slot; tails of the last forward that wrote only their output's bf16 copy
    /// (every consumer a convolution reading nothing else or a v6 residual tail reading the copy; the v3
    /// backward's mask from x or from bits).
    consumers: Vec<Vec<usize>>,
    copy_only_outputs: usize,
    /// v6 residual tails of the last forward that read their shortcut as its bf16 copy.
    sc16_tails: usize,
    /// Convolutions of the last backward whose grad-input added into the gradient another consumer had
    /// written (no scratch buffer, no add pass); `conv_adds`: allowed (`IPDPP_CONV_GX_ADD=0`: not).
    grad_adds_in_conv: usize,
    conv_adds: bool,
    /// v3 residual tails on a GPU: the ReLU mask bits of each tail's output slot from the last training
    /// forward (with its batch), which the backward reads instead of the output.
    relu_bits: HashMap<usize, (usize, cudarc::driver::CudaSlice<u32>)>,
    /// Residual-tail backwards of the last backward that read those bits.
    relu_bits_used: usize,
    /// The fused tails' version (`BnTailVersion::fused()`, `IPDPP_BN_TAIL`, unless set).
    bn_tail: BnTailVersion,
    /// Batch-norm partials that v6 convolutions write in their epilogue (training forward), by the
    /// convolution's output slot, for the batch norm reading that slot.
    bn_parts: HashMap<usize, BnPartials>,
    /// Convolution outputs read by nothing but a fused tail's batch norm over C % 4 == 0 channels: under
    /// v4 tails a bf16 v6 or v7 convolution stores them only as bf16, in their `act_bf16` copy.
    tail_input: Vec<bool>,
    /// The slots the last training forward stored that way (the tails read the copy, forward and
    /// backward), and how many.
    x16: Vec<bool>,
    x16_slots: usize,
    /// The BN node of the BN+ReLU tail whose output is each slot. Under v5 a stride-1 bf16 v6/v7 convolution
    /// that alone reads such an output (of a tail on a bf16 x) stores its grad-input as bf16 alone in `g16`
    /// (for slot `g16_of`), which the tail's backward reads; `g16_slots` counts them per backward.
    relu_tail_bn: Vec<Option<usize>>,
    g16: Bf16Copy,
    g16_of: Option<usize>,
    g16_slots: usize,
    /// The multi-tensor AdamW's chunk table on the GPU (`IPDPP_ADAMW_MULTI=1`).
    adamw_table: AdamwTable,
}

struct Builder<'a> {
    dev: &'a Device,
    rng: rand::rngs::StdRng,
    params: Vec<Param>,
    bn: Vec<BnState>,
    nodes: Vec<Node>,
    slot_size: Vec<usize>,
}

impl Builder<'_> {
    fn slot(&mut self, size: usize) -> usize {
        self.slot_size.push(size);
        self.slot_size.len() - 1
    }
    /// PyTorch's default initialisation: U(−1/√fan_in, 1/√fan_in) (kaiming_uniform with a = √5).
    fn uniform(&mut self, n: usize, fan_in: usize) -> Vec<f32> {
        let b = 1.0 / (fan_in as f32).sqrt();
        (0..n).map(|_| self.rng.random_range(-b..b)).collect()
    }
    fn conv(
        &mut self,
        name: &str,
        inp: usize,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        h: usize,
        w: usize,
    ) -> Result<(usize, usize, usize)> {
        let pad = k / 2;
        let init = self.uniform(cout * k * k * cin, cin * k * k);
        self.params.push(Param::new(
            self.dev,
            &format!("{name}.weight"),
            &[cout, cin, k, k],
            ParamKind::Conv,
            &init,
        )?);
        let (oh, ow) = (
            (h + 2 * pad - k) / stride + 1,
            (w + 2 * pad - k) / stride + 1,
        );
        let out = self.slot(oh * ow * cout);
        self.nodes.push(Node::Conv {
            p: self.params.len() - 1,
            cin,
            cout,
            k,
            stride,
            pad,
            h,
            w,
            inp,
            out,
        });
        Ok((out, oh, ow))
    }
    fn bn(&mut self, name: &str, inp: usize, c: usize, hw: usize) -> Result<usize> {
        self.params.push(Param::new(
            self.dev,
            &format!("{name}.weight"),
            &[c],
            ParamKind::Vector,
            &vec![1.0; c],
        )?);
        self.params.push(Param::new(
            self.dev,
            &format!("{name}.bias"),
            &[c],
            ParamKind::Vector,
            &vec![0.0; c],
        )?);
        self.bn.push(BnState {
            name: name.to_string(),
            c,
            running_mean: Buffer::zeros(self.dev, c)?,
            running_var: Buffer::from_host(self.dev, &vec![1.0; c])?,
            mean: Buffer::zeros(self.dev, 2 * c)?,
            rstd: Buffer::zeros(self.dev, 2 * c)?,
        });
        let out = self.slot(hw * c);
        let n = self.params.len();
        self.nodes.push(Node::Bn {
            gamma: n - 2,
            beta: n - 1,
            st: self.bn.len() - 1,
            c,
            hw,
            inp,
            out,
        });
        Ok(out)
    }
    fn relu(&mut self, inp: usize) -> usize {
        let out = self.slot(self.slot_size[inp]);
        self.nodes.push(Node::Relu { inp, out });
        out
    }
    fn linear(&mut self, name: &str, inp: usize, din: usize, dout: usize) -> Result<usize> {
        let w = self.uniform(dout * din, din);
        let b = self.uniform(dout, din);
        self.params.push(Param::new(
            self.dev,
            &format!("{name}.weight"),
            &[dout, din],
            ParamKind::Linear,
            &w,
        )?);
        self.params.push(Param::new(
            self.dev,
            &format!("{name}.bias"),
            &[dout],
            ParamKind::Vector,
            &b,
        )?);
        let out = self.slot(dout);
        let n = self.params.len();
        self.nodes.push(Node::Linear {
            w: n - 2,
            b: n - 1,
            din,
            dout,
            inp,
            out,
        });
        Ok(out)
    }
}

impl ResNet {
    /// A freshly initialised network (seeded) with the projector `feature → hidden → proj_out`.
    pub fn new(dev: &Device, arch: Arch, proj_out: usize, seed: u64) -> Result<Self> {
        let mut b = Builder {
            dev,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            params: Vec::new(),
            bn: Vec::new(),
            nodes: Vec::new(),
            slot_size: Vec::new(),
        };
        let (mut h, mut w) = (32usize, 32usize);
        let input = b.slot(h * w * 3);
        let (stem_c, stages): (usize, Vec<(usize, usize, usize)>) = match arch {
            Arch::ResNet18 => (64, vec![(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)]),
            Arch::ResNet34 => (64, vec![(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]),
            Arch::ResNet8 => (16, vec![(16, 1, 1), (32, 1, 2), (64, 1, 2)]),
            Arch::ResNet20 => (16, vec![(16, 3, 1), (32, 3, 2), (64, 3, 2)]),
            Arch::ResNet32 => (16, vec![(16, 5, 1), (32, 5, 2), (64, 5, 2)]),
        };
        let (s1, _, _) = b.conv("conv1", input, 3, stem_c, 3, 1, h, w)?;
        let s2 = b.bn("bn1", s1, stem_c, h * w)?;
        let mut x = b.relu(s2);
        let mut c = stem_c;
        let mut block_no = 0;
        for (si, &(cout, nblocks, first_stride)) in stages.iter().enumerate() {
            for bi in 0..nblocks {
                let stride = if bi == 0 { first_stride } else { 1 };
                let name = if arch.is_cifar_family() {
                    format!("blocks.{block_no}")
                } else {
                    format!("layer{}.{bi}", si + 1)
                };
                block_no += 1;
                let first = b.nodes.len();
                let (t1, oh, ow) = b.conv(&format!("{name}.conv1"), x, c, cout, 3, stride, h, w)?;
                let t2 = b.bn(&format!("{name}.bn1"), t1, cout, oh * ow)?;
                let t3 = b.relu(t2);
                let (t4, _, _) = b.conv(&format!("{name}.conv2"), t3, cout, cout, 3, 1, oh, ow)?;
                let t5 = b.bn(&format!("{name}.bn2"), t4, cout, oh * ow)?;
                let sc = if stride == 1 && c == cout {
                    x
                } else if arch.is_cifar_family() {
                    // Option A: x[:, ::2, ::2] and (cout − c)/2 zero channels on each side.
                    let out = b.slot(oh * ow * cout);
                    b.nodes.push(Node::ShortcutA {
                        h,
                        w,
                        c,
                        pad: (cout - c) / 2,
                        inp: x,
                        out,
                    });
                    out
                } else {
                    let (p1, _, _) =
                        b.conv(&format!("{name}.shortcut.0"), x, c, cout, 1, stride, h, w)?;
                    let sc = b.bn(&format!("{name}.shortcut.1"), p1, cout, oh * ow)?;
                    // The projection shortcut's two nodes run first (its parameters keep their place,
                    // and so the initialisation): in backward order its grad-input then comes last and
                    // adds into the block input's gradient that conv1 wrote, touching only the pixels
                    // its 1×1 stride-2 taps reach (the kernels skip the other residue classes when
                    // adding), and no convolution comes between conv2 and the tail, so conv2 reads its
                    // output gradient as the tail's bf16 copy alone (`conv_reads_gy_copy_only`).
                    b.nodes[first..].rotate_right(2);
                    sc
                };
                let sum = b.slot(oh * ow * cout);
                b.nodes.push(Node::Add {
                    a: t5,
                    b: sc,
                    out: sum,
                });
                x = b.relu(sum);
                (h, w, c) = (oh, ow, cout);
            }
        }
        let feat = b.slot(c);
        b.nodes.push(Node::Pool {
            hw: h * w,
            c,
            inp: x,
            out: feat,
        });
        let proj_start = b.nodes.len();
        let p1 = b.linear("proj.0", feat, c, arch.proj_hidden())?;
        let p2 = b.relu(p1);
        let out = b.linear("proj.2", p2, arch.proj_hidden(), proj_out)?;
        let sc_bn = sc_bn_default(dev);
        let plan = Plan::new(&b.nodes, &b.slot_size, sc_bn);
        Ok(ResNet {
            arch,
            params: b.params,
            bn: b.bn,
            nodes: b.nodes,
            slot_size: b.slot_size,
            feat_slot: feat,
            out_slot: out,
            proj_start,
            acts: Vec::new(),
            grads: Vec::new(),
            scratch: HashMap::new(),
            batch: 0,
            groups: 1,
            dev: dev.clone(),
            profiler: None,
            conv_precision: ConvPrecision::Fp32,
            fused_bn: fused_bn_default(),
            sc_bn,
            fusion: plan.fusion,
            fused_last: false,
            act_bf16: Vec::new(),
            feeds_bf16_conv: plan.feeds_bf16_conv,
            conv_output: plan.conv_output,
            fused_unused: plan.fused_unused,
            alloc_fused: false,
            v6_v7_tuned: None,
            w_bf16: HashMap::new(),
            wt_bf16: HashMap::new(),
            wt_f32: HashMap::new(),
            gy_bf16: Bf16Copy::default(),
            gy_bf16_of: None,
            copy_only_tails: 0,
            consumers: plan.consumers,
            copy_only_outputs: 0,
            sc16_tails: 0,
            grad_adds_in_conv: 0,
            relu_bits: HashMap::new(),
            relu_bits_used: 0,
            bn_tail: BnTailVersion::fused(),
            conv_adds: std::env::var("IPDPP_CONV_GX_ADD").map_or(true, |v| v.trim() != "0"),
            bn_parts: HashMap::new(),
            conv_version: TcVersion::current(),
            tail_input: plan.tail_input,
            x16: Vec::new(),
            x16_slots: 0,
            relu_tail_bn: plan.relu_tail_bn,
            g16: Bf16Copy::default(),
            g16_of: None,
            g16_slots: 0,
            adamw_table: AdamwTable::default(),
        })
    }

    pub fn device(&self) -> &Device {
        &self.dev
    }
    pub fn num_params(&self) -> usize {
        self.params.iter().map(|p| p.len()).sum()
    }
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Elements of slot `i` at batch `n` under the current fusion setting (0: never written).
    fn slot_elems(&self, i: usize, n: usize) -> usize {
        if self.fused_bn && self.fused_unused[i] {
            0
        } else {
            self.slot_size[i] * n
        }
    }

    fn ensure_batch(&mut self, n: usize, with_grads: bool) -> Result<()> {
        if self.batch != n
            || self.acts.len() != self.slot_size.len()
            || self.alloc_fused != self.fused_bn
        {
            self.acts = (0..self.slot_size.len())
                .map(|i| Buffer::zeros(&self.dev, self.slot_elems(i, n)))
                .collect::<Result<_>>()?;
            self.alloc_fused = self.fused_bn;
            self.grads.clear();
            self.scratch.clear();
            self.act_bf16 = (0..self.slot_size.len())
                .map(|_| Bf16Copy::default())
                .collect();
            self.gy_bf16 = Bf16Copy::default();
            self.gy_bf16_of = None;
            self.batch = n;
        }
        if with_grads && self.grads.len() != self.slot_size.len() {
            self.grads = (0..self.slot_size.len())
                .map(|i| Buffer::zeros(&self.dev, self.slot_elems(i, n)))
                .collect::<Result<_>>()?;
        }
        Ok(())
    }

    /// Under `IPDPP_V7_AUTO=1` with v7 asked on a GPU: v6 against v7 per op at every convolution's shape
    /// at batch `n`, once per batch size and precision, before any plan of this forward reads the choice.
    /// `conv_tc::tune_v6_v7` at batch `n`, the forwards timed as a training forward over `groups` views runs
    /// them (the statistics epilogue; y as bf16 under the v4-v6 tails) when `train`.
    fn tune_v6_v7(&mut self, n: usize, train: bool, groups: usize) -> Result<()> {
        let p = self.conv_precision;
        if self.conv_version != TcVersion::V7
            || !conv_tc::v7_auto()
            || self.v6_v7_tuned == Some((n, p))
        {
            return Ok(());
        }
        if let Device::Cuda(d) = &self.dev {
            let specs: Vec<ConvSpec> = self
                .nodes
                .iter()
                .filter_map(|node| conv_spec(node, n).map(|(s, _)| s))
                .collect();
            let bf16_out = p == ConvPrecision::Bf16 && self.fused_bn && self.bn_tail.bf16_x();
            let stats = train.then_some((groups, bf16_out));
            conv_tc::tune_v6_v7(d, p, &specs, stats)?;
        }
        self.v6_v7_tuned = Some((n, p));
        Ok(())
    }

    /// Elements held by the activation and gradient buffers (for memory reports and tests).
    pub fn buffer_elems(&self) -> usize {
        self.acts.iter().chain(&self.grads).map(Buffer::len).sum()
    }

    /// Forward `x` ([n, 32, 32, 3] NHWC, values in [0, 1]). In training mode, batch-norm statistics are
    /// computed separately over each of `groups` equal slices (the views). `with_projector` false stops
    /// at the pooled features (eval for the probe and for IP-DPP). Returns the output slot.
    pub fn forward(
        &mut self,
        x: &Buffer,
        mode: Mode,
        groups: usize,
        with_projector: bool,
    ) -> Result<usize> {
        let per = self.slot_size[0];
        if x.len() % per != 0 || x.is_empty() {
            return Err(Error::usage(format!(
                "network input holds {} values, not a whole number of 32x32x3 images",
                x.len()
            )));
        }
        let n = x.len() / per;
        let groups = groups.max(1);
        if mode == Mode::Train && (n % groups != 0 || n / groups < 2) {
            return Err(Error::usage(format!("a training batch of {n} images cannot be split into {groups} views of at least 2 images")));
        }
        self.ensure_batch(n, mode == Mode::Train)?;
        self.tune_v6_v7(n, mode == Mode::Train, groups)?;
        self.act_bf16.iter_mut().for_each(Bf16Copy::stale);
        self.w_bf16.values_mut().for_each(Bf16Copy::stale);
        self.wt_bf16.values_mut().for_each(Bf16Copy::stale);
        self.wt_f32.values_mut().for_each(DevCopy::stale);
        self.bn_parts.values_mut().for_each(BnPartials::stale);
        self.x16 = vec![false; self.slot_size.len()];
        self.x16_slots = 0;
        self.groups = groups;
        self.fused_last = self.fused_bn;
        self.copy_only_outputs = 0;
        self.sc16_tails = 0;
        let dev = self.dev.clone();
        ops::copy_f32(&dev, &mut self.acts[0], x)?;
        let end = if with_projector {
            self.nodes.len()
        } else {
            self.proj_start
        };
        for i in 0..end {
            let node = self.nodes[i].clone();
            if let Some(p) = self.profiler.as_mut() {
                p.begin(i, false);
            }
            if self.fused_bn && self.fusion[i] != Fuse::No {
                if self.fusion[i] != Fuse::Absorbed {
                    self.fused_forward(i, n, mode, groups)?;
                }
                if let Some(p) = self.profiler.as_mut() {
                    p.end(i, false);
                }
                continue;
            }
            let (inp_slot, out_slot) = match &node {
                Node::Conv { inp, out, .. }
                | Node::Bn { inp, out, .. }
                | Node::Relu { inp, out }
                | Node::ShortcutA { inp, out, .. }
                | Node::Pool { inp, out, .. }
                | Node::Linear { inp, out, .. } => (*inp, *out),
                Node::Add { a, out, .. } => (*a, *out),
            };
            let mut y = std::mem::replace(&mut self.acts[out_slot], Buffer::Cpu(Vec::new()));
            let xin = &self.acts[inp_slot];
            let r = match node {
                Node::Conv {
                    p,
                    cin,
                    cout,
                    k,
                    stride,
                    pad,
                    h,
                    w,
                    ..
                } => {
                    let s = ConvSpec {
                        n,
                        h,
                        w,
                        c: cin,
                        o: cout,
                        kh: k,
                        kw: k,
                        stride,
                        pad,
                    };
                    // v4 tails: the output as bf16 alone where only such a tail reads it.
                    let to16 = mode == Mode::Train
                        && self.fused_bn
                        && self.bn_tail.bf16_x()
                        && self.tail_input[out_slot];
                    let (xk, yk) = two_mut(&mut self.act_bf16, inp_slot, out_slot);
                    conv_tc::conv_fwd_kept(
                        &dev,
                        self.conv_precision,
                        self.conv_version,
                        xk,
                        self.w_bf16.entry(p).or_default(),
                        (mode == Mode::Train)
                            .then(|| (self.bn_parts.entry(out_slot).or_default(), groups)),
                        &mut y,
                        xin,
                        &self.params[p].w,
                        &s,
                        to16.then_some(yk),
                    )
                    .map(|wrote16| {
                        self.x16[out_slot] = wrote16;
                        self.x16_slots += wrote16 as usize;
                    })
                }
                Node::Bn {
                    gamma,
                    beta,
                    st,
                    c,
                    hw,
                    ..
                } => {
                    let s = BnSpec::new(n * hw, c);
                    let b = &mut self.bn[st];
                    if b.mean.len() < groups * c {
                        b.mean = Buffer::zeros(&dev, groups * c)?;
                        b.rstd = Buffer::zeros(&dev, groups * c)?;
                    }
                    match mode {
                        Mode::Train => nn_ops::batchnorm_fwd_train(
                            &dev,
                            &mut y,
                            xin,
                            &self.params[gamma].w,
                            &self.params[beta].w,
                            BnBuffers {
                                running_mean: &mut b.running_mean,
                                running_var: &mut b.running_var,
                                mean: &mut b.mean,
                                rstd: &mut b.rstd,
                            },
                            &s,
                            groups,
                            self.bn_parts.get(&inp_slot),
                        ),
                        Mode::Eval => nn_ops::batchnorm_fwd_eval(
                            &dev,
                            &mut y,
                            xin,
                            &self.params[gamma].w,
                            &self.params[beta].w,
                            &b.running_mean,
                            &b.running_var,
                            &s,
                        ),
                    }
                }
                Node::Relu { .. } => ops::relu_fwd_f32(&dev, &mut y, xin),
                Node::Add { b, .. } => ops::add_f32(&dev, &mut y, xin, &self.acts[b]),
                Node::ShortcutA { h, w, c, pad, .. } => {
                    nn_ops::shortcut_a_fwd(&dev, &mut y, xin, n, h, w, c, pad)
                }
                Node::Pool { hw, c, .. } => nn_ops::avgpool_fwd(&dev, &mut y, xin, n, hw, c),
                Node::Linear {
                    w, b, din, dout, ..
                } => match (self.linear_tc(n, din, dout), &dev) {
                    (Some(s), Device::Cuda(d)) => conv_tc::conv_fwd_kept(
                        &dev,
                        self.conv_precision,
                        self.conv_version,
                        &mut self.act_bf16[inp_slot],
                        self.w_bf16.entry(w).or_default(),
                        None,
                        &mut y,
                        xin,
                        &self.params[w].w,
                        &s,
                        None,
                    )
                    .and_then(|_| match (&mut y, &self.params[b].w) {
                        (Buffer::Cuda(yc), Buffer::Cuda(bc)) => {
                            crate::device::cuda::linear::bias_add_f32(d, yc, bc, n, dout)
                        }
                        _ => Err(Error::usage(
                            "linear on tensor cores: CUDA buffers expected",
                        )),
                    }),
                    _ => nn_ops::linear_fwd(
                        &dev,
                        &mut y,
                        xin,
                        &self.params[w].w,
                        Some(&self.params[b].w),
                        n,
                        din,
                        dout,
                    ),
                },
            };
            self.acts[out_slot] = y;
            r?;
            if let Some(p) = self.profiler.as_mut() {
                p.end(i, false);
            }
        }
        Ok(if with_projector {
            self.out_slot
        } else {
            self.feat_slot
        })
    }

    /// The activation in `slot` after the last forward, on the host.
    pub fn read_slot(&self, slot: usize) -> Result<Vec<f32>> {
        self.acts
            .get(slot)
            .ok_or_else(|| Error::usage("no forward pass has run yet"))?
            .to_host(&self.dev)
    }
    /// The activation buffer in `slot` (device-resident).
    pub fn slot(&self, slot: usize) -> &Buffer {
        &self.acts[slot]
    }

    /// Backward from the gradient of the projector output (the last training forward's batch);
    /// parameter gradients are overwritten.
    pub fn backward(&mut self, gz: &Buffer) -> Result<()> {
        self.backward_from(self.out_slot, self.nodes.len(), gz)
    }

    /// Backward from the gradient of the pooled encoder features (classifier fine-tuning: the projector
    /// is not used); encoder parameter gradients are overwritten, the projector's are left alone.
    pub fn backward_features(&mut self, gh: &Buffer) -> Result<()> {
        self.backward_from(self.feat_slot, self.proj_start, gh)
    }

    fn backward_from(&mut self, start_slot: usize, end_node: usize, gz: &Buffer) -> Result<()> {
        let n = self.batch;
        if self.grads.len() != self.slot_size.len() {
            return Err(Error::usage("backward needs a training-mode forward first"));
        }
        let dev = self.dev.clone();
        let groups = self.groups;
        let mut written = vec![false; self.slot_size.len()];
        if gz.len() != self.slot_size[start_slot] * n {
            return Err(Error::usage(format!(
                "backward: gradient holds {} values, the last forward produced {}",
                gz.len(),
                self.slot_size[start_slot] * n
            )));
        }
        ops::copy_f32(&dev, &mut self.grads[start_slot], gz)?;
        written[start_slot] = true;
        self.gy_bf16_of = None;
        self.g16_of = None;
        self.g16_slots = 0;
        self.copy_only_tails = 0;
        self.grad_adds_in_conv = 0;
        self.relu_bits_used = 0;
        for i in (0..end_node).rev() {
            let node = self.nodes[i].clone();
            if let Some(p) = self.profiler.as_mut() {
                p.begin(i, true);
            }
            let fuse = if self.fused_last {
                self.fusion[i]
            } else {
                Fuse::No
            };
            match node {
                _ if matches!(fuse, Fuse::Absorbed | Fuse::ScStats) => {}
                Node::Add { b, .. } if matches!(fuse, Fuse::BnAddRelu { .. }) => {
                    self.fused_add_backward(i, b, &mut written, n, groups)?;
                }
                Node::Add { a, b, out } => {
                    let g = std::mem::replace(&mut self.grads[out], Buffer::Cpu(Vec::new()));
                    for t in [a, b] {
                        if written[t] {
                            ops::add_inplace_f32(&dev, &mut self.grads[t], &g)?;
                        } else {
                            ops::copy_f32(&dev, &mut self.grads[t], &g)?;
                            written[t] = true;
                        }
                    }
                    self.grads[out] = g;
                }
                _ => {
                    let (inp, out) = match (fuse, &node) {
                        // batchnorm_relu: from the ReLU's output gradient to the BN's input.
                        (Fuse::BnRelu { relu_out }, &Node::Bn { inp, .. }) => (inp, relu_out),
                        (_, &Node::Conv { inp, out, .. })
                        | (_, &Node::Bn { inp, out, .. })
                        | (_, &Node::Relu { inp, out })
                        | (_, &Node::ShortcutA { inp, out, .. })
                        | (_, &Node::Pool { inp, out, .. })
                        | (_, &Node::Linear { inp, out, .. }) => (inp, out),
                        (_, &Node::Add { .. }) => unreachable!(),
                    };
                    let g = std::mem::replace(&mut self.grads[out], Buffer::Cpu(Vec::new()));
                    let need_input_grad = inp != 0;
                    let accumulate = need_input_grad && written[inp];
                    // A convolution whose grad-input kernel adds into gx takes the slot's gradient itself.
                    let adds = accumulate && self.grad_input_adds(&node, n);
                    let mut dst = if adds {
                        std::mem::replace(&mut self.grads[inp], Buffer::Cpu(Vec::new()))
                    } else {
                        self.take_input_grad(inp, accumulate, n)?
                    };
                    let r = if let Fuse::BnRelu { relu_out } = fuse {
                        self.fused_relu_backward(
                            i,
                            &node,
                            relu_out,
                            &mut dst,
                            &g,
                            n,
                            groups,
                            !accumulate,
                        )
                    } else {
                        self.node_backward(&node, &mut dst, &g, need_input_grad, n, groups, adds)
                    };
                    if adds {
                        self.grads[inp] = dst;
                        self.grad_adds_in_conv += 1;
                    } else {
                        self.put_input_grad(inp, dst, accumulate, &mut written, need_input_grad)?;
                    }
                    self.grads[out] = g;
                    r?;
                }
            }
            if let Some(p) = self.profiler.as_mut() {
                p.end(i, true);
            }
        }
        Ok(())
    }

    /// Grows a BN layer's saved-statistics buffers to `groups` views.
    fn ensure_bn_stats(&mut self, st: usize, groups: usize) -> Result<()> {
        let b = &mut self.bn[st];
        if b.mean.len() < groups * b.c {
            b.mean = Buffer::zeros(&self.dev, groups * b.c)?;
            b.rstd = Buffer::zeros(&self.dev, groups * b.c)?;
        }
        Ok(())
    }

    /// The buffer a backward writes the gradient of slot `inp` into: a scratch buffer (kept from an
    /// earlier step, or new) when the slot already holds another consumer's gradient (`accumulate`),
    /// else the slot's own gradient buffer.
    fn take_input_grad(&mut self, inp: usize, accumulate: bool, n: usize) -> Result<Buffer> {
        Ok(if accumulate {
            match self.scratch.remove(&inp) {
                Some(b) => b,
                None => Buffer::zeros(&self.dev, self.slot_size[inp] * n)?,
            }
        } else {
            std::mem::replace(&mut self.grads[inp], Buffer::Cpu(Vec::new()))
        })
    }

    /// Returns the buffer of [`Self::take_input_grad`]: when accumulating, adds it to the slot's
    /// gradient and keeps it as scratch; else it becomes the slot's gradient, marked `written_now`.
    fn put_input_grad(
        &mut self,
        inp: usize,
        dst: Buffer,
        accumulate: bool,
        written: &mut [bool],
        written_now: bool,
    ) -> Result<()> {
        if accumulate {
            let r = ops::add_inplace_f32(&self.dev, &mut self.grads[inp], &dst);
            self.scratch.insert(inp, dst);
            r
        } else {
            self.grads[inp] = dst;
            written[inp] = written_now;
            Ok(())
        }
    }

    /// Forward of the fused op planned at node `i` (`batchnorm_relu` at a BN node, `batchnorm_add_relu`
    /// at an add node), written into the ReLU's output slot.
    fn fused_forward(&mut self, i: usize, n: usize, mode: Mode, groups: usize) -> Result<()> {
        let (bn_node, relu_out, sc, sc_bn) = match (self.fusion[i], &self.nodes[i]) {
            (Fuse::ScStats, _) => return self.sc_stats_forward(i, n, mode, groups),
            (Fuse::BnRelu { relu_out }, _) => (i, relu_out, None, None),
            (
                Fuse::BnAddRelu {
                    bn,
                    relu_out,
                    sc_bn,
                },
                &Node::Add { b, .. },
            ) => (bn, relu_out, Some(b), sc_bn),
            _ => return Err(Error::usage(format!("node {i}: no fused op planned here"))),
        };
        // SBN: the tail reads the shortcut convolution's output and applies its batch norm.
        let sc_f = match sc_bn {
            Some(k) => Some(bn_fields(&self.nodes[k]).ok_or_else(|| {
                Error::usage(format!("node {k}: a shortcut batch norm must be a BN node"))
            })?),
            None => None,
        };
        let sc = match &sc_f {
            Some(f) => Some(f.inp),
            None => sc,
        };
        let Some(bn) = bn_fields(&self.nodes[bn_node]) else {
            return Err(Error::usage(format!(
                "node {bn_node}: a fused batch-norm tail must start at a BN node"
            )));
        };
        self.ensure_bn_stats(bn.st, groups)?;
        let s = BnSpec::new(n * bn.hw, bn.c);
        let dev = self.dev.clone();
        let v = self.bn_tail;
        // v3 residual tails in training: the ReLU mask as bits for the backward (C % 4 == 0).
        let words =
            crate::device::cuda::norm::relu_mask_words(&BnSpec::new(s.rows / groups.max(1), s.c));
        // The bf16 copy that the next v6 convolutions read is written by the tail itself (saves a cast);
        // alone (`only`) where those convolutions read nothing else and the v3 backward needs no y: the
        // BN+ReLU backward takes its mask from x, the residual one from the bits this training forward
        // writes (a block output feeding only a downsampling block's two convolutions, ResNet-18/34;
        // under v6 also one that the next residual tail reads as its bf16 shortcut).
        let only = (sc.is_none() || (mode == Mode::Train && words > 0))
            && v.v3_family()
            && dev.cuda().is_some_and(|d| {
                self.read_only_by_copies(d, relu_out, n, mode == Mode::Train, groups)
            });
        let mut y = std::mem::replace(&mut self.acts[relu_out], Buffer::Cpu(Vec::new()));
        let (x, ga, be) = (
            &self.acts[bn.inp],
            &self.params[bn.gamma].w,
            &self.params[bn.beta].w,
        );
        let mut bits = match dev.cuda() {
            Some(d) if mode == Mode::Train && sc.is_some() && v.v3_family() && words > 0 => {
                let need = groups.max(1) * words;
                Some(match self.relu_bits.remove(&relu_out) {
                    Some((_, m)) if m.len() >= need => m,
                    _ => d.zeros::<u32>(need)?,
                })
            }
            _ => {
                // Kept for the next training forward (no allocation), but no longer this output's.
                if let Some(e) = self.relu_bits.get_mut(&relu_out) {
                    e.0 = 0;
                }
                None
            }
        };
        // v6: the identity shortcut as its bf16 copy where this forward wrote one (`sc16_reader`).
        let v6_sc16 = v == BnTailVersion::V6 && mode == Mode::Train && words > 0 && sc_f.is_none();
        // SBN under the v4-v6 tails: the shortcut convolution's output as it stored it, bf16 alone.
        let sbn16 = mode == Mode::Train && sc.is_some_and(|k| sc_f.is_some() && self.x16[k]);
        let sc16_slot = sc.filter(|_| v6_sc16 || sbn16);
        let (yk, xk, sck) = mut_and_two(&mut self.act_bf16, relu_out, bn.inp, sc16_slot);
        let sc16 = sck.and_then(Bf16Copy::current);
        if sbn16 && sc16.is_none() {
            return Err(Error::usage(format!(
                "node {i}: the bf16 shortcut input of an SBN tail is gone"
            )));
        }
        self.sc16_tails += (v6_sc16 && sc16.is_some()) as usize;
        let sc = sc.map(|k| &self.acts[k]);
        let (b, sb) = match &sc_f {
            Some(f) => {
                let (m, a, _) = mut_and_two(&mut self.bn, bn.st, f.st, None);
                (m, Some(a))
            }
            None => (&mut self.bn[bn.st], None),
        };
        let sbn = match (&sc_f, sb) {
            (Some(f), Some(sb)) => Some(ScBn {
                gamma: &self.params[f.gamma].w,
                beta: &self.params[f.beta].w,
                stats: match mode {
                    Mode::Train => ScBnStats::Batch {
                        mean: &sb.mean,
                        rstd: &sb.rstd,
                    },
                    Mode::Eval => ScBnStats::Running {
                        mean: &sb.running_mean,
                        var: &sb.running_var,
                    },
                },
            }),
            _ => None,
        };
        let x16 = match self.x16.get(bn.inp) {
            Some(true) if mode == Mode::Train => Some(xk.current().ok_or_else(|| {
                Error::usage(format!(
                    "node {bn_node}: the bf16 input of a v4 tail is gone"
                ))
            })?),
            _ => None,
        };
        let yb = match dev.cuda() {
            Some(d)
                if self.conv_precision == ConvPrecision::Bf16
                    && matches!(self.conv_version, TcVersion::V6 | TcVersion::V7)
                    && self.feeds_bf16_conv[relu_out] =>
            {
                self.copy_only_outputs += only as usize;
                Some((yk.fill(d, y.len())?, only))
            }
            _ => None,
        };
        let r = match mode {
            Mode::Train => {
                let st = BnBuffers {
                    running_mean: &mut b.running_mean,
                    running_var: &mut b.running_var,
                    mean: &mut b.mean,
                    rstd: &mut b.rstd,
                };
                let pre = self.bn_parts.get(&bn.inp);
                nn_ops::batchnorm_tail_fwd_train(
                    &dev,
                    v,
                    &mut y,
                    yb,
                    x,
                    x16,
                    sc,
                    sc16,
                    ga,
                    be,
                    st,
                    &s,
                    groups,
                    pre,
                    bits.as_mut(),
                    sbn.as_ref(),
                )
            }
            Mode::Eval => nn_ops::batchnorm_tail_fwd_eval(
                &dev,
                v,
                &mut y,
                yb,
                x,
                sc,
                ga,
                be,
                &b.running_mean,
                &b.running_var,
                &s,
                sbn.as_ref(),
            ),
        };
        self.acts[relu_out] = y;
        if let (Some(m), true) = (bits, r.is_ok()) {
            self.relu_bits.insert(relu_out, (n, m));
        }
        r
    }

    /// A projection shortcut's BN node under SBN ([`Fuse::ScStats`]): in training its batch statistics
    /// (per view; from the shortcut convolution's epilogue partials where it wrote them), which the tail
    /// applies; nothing in eval (the tail reads the running statistics).
    fn sc_stats_forward(&mut self, i: usize, n: usize, mode: Mode, groups: usize) -> Result<()> {
        let Some(f) = bn_fields(&self.nodes[i]) else {
            return Err(Error::usage(format!(
                "node {i}: shortcut statistics planned at a non-BN node"
            )));
        };
        if mode == Mode::Eval {
            return Ok(());
        }
        self.ensure_bn_stats(f.st, groups)?;
        let b = &mut self.bn[f.st];
        // Stored as bf16 alone (v4-v6 tails): the statistics come from the convolution's epilogue.
        let only_pre = self.x16.get(f.inp) == Some(&true);
        nn_ops::batchnorm_stats_train(
            &self.dev,
            &self.acts[f.inp],
            BnBuffers {
                running_mean: &mut b.running_mean,
                running_var: &mut b.running_var,
                mean: &mut b.mean,
                rstd: &mut b.rstd,
            },
            &BnSpec::new(n * f.hw, f.c),
            groups,
            self.bn_parts.get(&f.inp),
            only_pre,
        )
    }

    /// Backward of `batchnorm_relu` (planned at BN node `node`): gx from the gradient of the ReLU's
    /// output `gy` and the stored output itself (the mask).
    #[allow(clippy::too_many_arguments)]
    fn fused_relu_backward(
        &mut self,
        at: usize,
        node: &Node,
        relu_out: usize,
        gx: &mut Buffer,
        gy: &Buffer,
        n: usize,
        groups: usize,
        whole: bool,
    ) -> Result<()> {
        let Some(bn) = bn_fields(node) else {
            return Err(Error::usage(
                "batchnorm_relu backward planned at a non-BN node",
            ));
        };
        self.fused_bn_backward(at, &bn, relu_out, gx, None, gy, n, groups, whole, None)
    }

    /// The fused tails' backward through `nn_ops::batchnorm_tail_bwd` for BN node `bn`, planned at node
    /// `at`: the stored output in slot `relu_out` is the ReLU mask; `gsc` as there; `whole`: gx is the BN
    /// input's whole gradient (not a part that is added to another consumer's), so its bf16 copy may
    /// stand for it. `sc_bn` (SBN): the shortcut's BN node, whose input gradient `gsc` then is.
    #[allow(clippy::too_many_arguments)]
    fn fused_bn_backward(
        &mut self,
        at: usize,
        bn: &BnFields,
        relu_out: usize,
        gx: &mut Buffer,
        gsc: Option<(&mut Buffer, bool)>,
        gy: &Buffer,
        n: usize,
        groups: usize,
        whole: bool,
        sc_bn: Option<&BnFields>,
    ) -> Result<()> {
        let s = BnSpec::new(n * bn.hw, bn.c);
        // The fp32 gradient is left unwritten where the convolution reads only the bf16 copy.
        let copy_only = self
            .dev
            .cuda()
            .is_some_and(|d| self.conv_reads_gy_copy_only(d, bn.inp, gx.len(), at));
        // The parameter gradients leave their slots for the call (the shortcut batch norm's as well).
        let take = |p: &mut Param| std::mem::replace(&mut p.g, Buffer::Cpu(Vec::new()));
        let mut gga = take(&mut self.params[bn.gamma]);
        let mut gbe = take(&mut self.params[bn.beta]);
        let mut sgrads = sc_bn.map(|f| {
            (
                take(&mut self.params[f.gamma]),
                take(&mut self.params[f.beta]),
            )
        });
        let b = &self.bn[bn.st];
        // v3 on a GPU under bf16 v6/v7 convolutions: the tail writes the bf16 copy of its input gradient,
        // which the convolution producing its input reads next (gy_bf16_of says for which slot).
        let ver = self.bn_tail;
        let gxb = match self.dev.cuda() {
            Some(d)
                if ver.v3_family()
                    && self.conv_precision == ConvPrecision::Bf16
                    && matches!(self.conv_version, TcVersion::V6 | TcVersion::V7)
                    && self.conv_output[bn.inp].is_some()
                    && whole =>
            {
                let len = gx.len();
                Some((self.gy_bf16.fill(d, len)?, copy_only))
            }
            _ => None,
        };
        let wrote = gxb.is_some();
        self.gy_bf16_of = None;
        // The residual tail's ReLU mask bits from this batch's training forward (v3), if it wrote them.
        let bits = match (&gsc, self.relu_bits.get(&relu_out)) {
            (Some(_), Some((bn_n, m))) if ver.v3_family() && *bn_n == n => Some(m),
            _ => None,
        };
        self.relu_bits_used += bits.is_some() as usize;
        // v5: gy as the convolution after a BN+ReLU tail stored it, bf16 alone.
        let gy16 = match (&gsc, self.g16_of) {
            (None, Some(s)) if s == relu_out => Some(self.g16.current().ok_or_else(|| {
                Error::usage(format!("node {at}: the bf16 gradient of a v5 tail is gone"))
            })?),
            _ => None,
        };
        // v4: x as the convolution stored it in the training forward, bf16 alone.
        let x16 = match self.x16.get(bn.inp) {
            Some(true) => Some(self.act_bf16[bn.inp].current().ok_or_else(|| {
                Error::usage(format!(
                    "node {at}: the bf16 input of a v4 tail is gone; run a training forward first"
                ))
            })?),
            _ => None,
        };
        let sbn = match (sc_bn, sgrads.as_mut()) {
            (Some(f), Some((sgg, sgb))) => Some(ScBnBwd {
                sc: &self.acts[f.inp],
                sc16: match self.x16.get(f.inp) {
                    Some(true) => Some(self.act_bf16[f.inp].current().ok_or_else(|| {
                        Error::usage(format!(
                            "node {at}: the bf16 shortcut input of an SBN tail is gone; run a training forward first"
                        ))
                    })?),
                    _ => None,
                },
                bn: ScBn {
                    gamma: &self.params[f.gamma].w,
                    beta: &self.params[f.beta].w,
                    stats: ScBnStats::Batch {
                        mean: &self.bn[f.st].mean,
                        rstd: &self.bn[f.st].rstd,
                    },
                },
                ggamma: sgg,
                gbeta: sgb,
            }),
            _ => None,
        };
        let r = nn_ops::batchnorm_tail_bwd(
            &self.dev,
            ver,
            gx,
            gsc,
            &mut gga,
            &mut gbe,
            gy,
            gy16,
            &self.acts[relu_out],
            &self.acts[bn.inp],
            x16,
            (&self.params[bn.gamma].w, &self.params[bn.beta].w),
            &b.mean,
            &b.rstd,
            &s,
            groups,
            gxb,
            bits,
            sbn,
        );
        self.params[bn.gamma].g = gga;
        self.params[bn.beta].g = gbe;
        if let (Some(f), Some((sgg, sgb))) = (sc_bn, sgrads) {
            self.params[f.gamma].g = sgg;
            self.params[f.beta].g = sgb;
        }
        if wrote {
            if r.is_ok() {
                self.gy_bf16_of = Some(bn.inp);
                self.copy_only_tails += copy_only as usize;
            } else {
                self.gy_bf16.stale();
            }
        }
        r
    }

    /// Whether every consumer of `slot` reads it only through its bf16 copy (at batch `n`): a convolution
    /// whose forward and grad-weight do, or (`train`, v6 tails) a residual tail reading it as its bf16
    /// shortcut ([`Self::sc16_reader`]).
    fn read_only_by_copies(
        &self,
        d: &CudaDevice,
        slot: usize,
        n: usize,
        train: bool,
        groups: usize,
    ) -> bool {
        !self.consumers[slot].is_empty()
            && self.consumers[slot].iter().all(|&i| {
                conv_spec(&self.nodes[i], n).is_some_and(|(s, _)| {
                    conv_tc::reads_x_copy_only(d, self.conv_version, self.conv_precision, &s)
                }) || (train && self.sc16_reader(i, slot, n, groups))
            })
    }

    /// Whether node `i` is a fused residual tail that, in a v6 training forward, reads `slot` as its
    /// shortcut through the slot's bf16 copy: the shortcut input of the add it is planned at, with the
    /// ReLU mask bits (C % 4 == 0). It does so whenever the copy is fresh, which the tail writing `slot`
    /// makes sure of when it leaves the fp32 tensor unwritten.
    fn sc16_reader(&self, i: usize, slot: usize, n: usize, groups: usize) -> bool {
        let (Fuse::BnAddRelu { bn, .. }, Node::Add { b, .. }) = (self.fusion[i], &self.nodes[i])
        else {
            return false;
        };
        self.bn_tail == BnTailVersion::V6
            && *b == slot
            && bn_fields(&self.nodes[bn]).is_some_and(|f| {
                crate::device::cuda::norm::relu_mask_words(&BnSpec::new(
                    n * f.hw / groups.max(1),
                    f.c,
                )) > 0
            })
    }

    /// Whether the convolution writing `slot` reads its output gradient only through the bf16 copy that
    /// a tail at node `at` writes (`conv_tc::bwd_reads_gy_copy_only` at this batch, `len` elements of
    /// the slot), and that copy is still there when its backward runs: no other convolution comes
    /// between in backward order (a projection shortcut's would overwrite the shared copy buffer).
    fn conv_reads_gy_copy_only(&self, d: &CudaDevice, slot: usize, len: usize, at: usize) -> bool {
        let Some(j) = self.conv_output[slot] else {
            return false;
        };
        let per = self.slot_size[slot];
        if j >= at
            || per == 0
            || len % per != 0
            || self.nodes[j + 1..at]
                .iter()
                .any(|n| matches!(n, Node::Conv { .. }))
        {
            return false;
        }
        conv_spec(&self.nodes[j], len / per).is_some_and(|(s, inp)| {
            conv_tc::bwd_reads_gy_copy_only(d, self.conv_version, self.conv_precision, &s, inp != 0)
        })
    }

    /// Backward of `batchnorm_add_relu` (planned at add node `i`, shortcut slot `sc`): the BN input's
    /// gradient and the shortcut's (added to it when another consumer wrote it already).
    fn fused_add_backward(
        &mut self,
        i: usize,
        sc: usize,
        written: &mut [bool],
        n: usize,
        groups: usize,
    ) -> Result<()> {
        let Fuse::BnAddRelu {
            bn,
            relu_out,
            sc_bn,
        } = self.fusion[i]
        else {
            return Err(Error::usage(format!(
                "node {i}: no fused tail planned here"
            )));
        };
        let Some(f) = bn_fields(&self.nodes[bn]) else {
            return Err(Error::usage(format!("node {bn}: not a BN node")));
        };
        // SBN: the tail writes the gradient of the shortcut batch norm's input, its only consumer.
        let sf = match sc_bn {
            Some(k) => Some(
                bn_fields(&self.nodes[k])
                    .ok_or_else(|| Error::usage(format!("node {k}: not a BN node")))?,
            ),
            None => None,
        };
        let sc = sf.as_ref().map_or(sc, |f| f.inp);
        let inp = f.inp;
        let g = std::mem::replace(&mut self.grads[relu_out], Buffer::Cpu(Vec::new()));
        let accumulate_x = written[inp];
        let mut dst = self.take_input_grad(inp, accumulate_x, n)?;
        let mut gsc = std::mem::replace(&mut self.grads[sc], Buffer::Cpu(Vec::new()));
        let r = self.fused_bn_backward(
            i,
            &f,
            relu_out,
            &mut dst,
            Some((&mut gsc, written[sc])),
            &g,
            n,
            groups,
            !accumulate_x,
            sf.as_ref(),
        );
        self.grads[sc] = gsc;
        written[sc] = true;
        self.grads[relu_out] = g;
        let r2 = self.put_input_grad(inp, dst, accumulate_x, written, true);
        r?;
        r2
    }

    /// The 1×1 convolution a linear layer of `din` → `dout` over `n` rows runs as under
    /// `IPDPP_LINEAR_TC=1` (opt-in, written without a GPU, 2026-11-28): in bf16 steps on a GPU, where its
    /// forward, grad-input and grad-weight all run on the bf16 tensor-core kernels (v6 / v7: bf16 operands,
    /// fp32 accumulation, as autocast runs linears in bf16); else None (the fp32 GEMM or cuBLAS).
    fn linear_tc(&self, n: usize, din: usize, dout: usize) -> Option<ConvSpec> {
        static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let on =
            *ON.get_or_init(|| std::env::var("IPDPP_LINEAR_TC").is_ok_and(|v| v.trim() == "1"));
        let d = self
            .dev
            .cuda()
            .filter(|_| on && self.conv_precision == ConvPrecision::Bf16)?;
        let s = ConvSpec::new(n, 1, 1, din, dout, 1, 1, 0);
        let (v, p) = (self.conv_version, self.conv_precision);
        (conv_tc::reads_x_copy_only(d, v, p, &s)
            && conv_tc::bwd_reads_gy_copy_only(d, v, p, &s, true))
        .then_some(s)
    }

    /// Whether convolution `node`'s grad-input at batch `n` adds into the gradient it is given
    /// (`conv_tc::bwd_input_adds`, unless turned off: [`Self::set_conv_grad_adds`]).
    fn grad_input_adds(&self, node: &Node, n: usize) -> bool {
        self.conv_adds
            && conv_spec(node, n).is_some_and(|(s, _)| {
                conv_tc::bwd_input_adds(&self.dev, self.conv_version, self.conv_precision, &s)
            })
    }

    /// `gx_add`: a convolution adds its grad-input into gx ([`Self::grad_input_adds`]); false elsewhere.
    #[allow(clippy::too_many_arguments)]
    fn node_backward(
        &mut self,
        node: &Node,
        gx: &mut Buffer,
        gy: &Buffer,
        need_gx: bool,
        n: usize,
        groups: usize,
        gx_add: bool,
    ) -> Result<()> {
        let dev = &self.dev;
        match *node {
            Node::Conv {
                p,
                cin,
                cout,
                k,
                stride,
                pad,
                h,
                w,
                inp,
                out,
                ..
            } => {
                let s = ConvSpec {
                    n,
                    h,
                    w,
                    c: cin,
                    o: cout,
                    kh: k,
                    kw: k,
                    stride,
                    pad,
                };
                let prm = &mut self.params[p];
                let gy_fresh = self.gy_bf16_of.take() == Some(out);
                // v5: the grad-input as bf16 alone where a BN+ReLU tail on a bf16 x alone hands this
                // convolution its output.
                let to16 = self.bn_tail.bf16_gy()
                    && need_gx
                    && !gx_add
                    && stride == 1
                    && self.consumers[inp].len() == 1
                    && self.relu_tail_bn[inp]
                        .and_then(|k| bn_fields(&self.nodes[k]))
                        .is_some_and(|bn| self.x16.get(bn.inp) == Some(&true));
                let wrote16 = conv_tc::conv_bwd_kept(
                    dev,
                    self.conv_precision,
                    self.conv_version,
                    &mut self.act_bf16[inp],
                    self.w_bf16.entry(p).or_default(),
                    self.wt_bf16.entry(p).or_default(),
                    self.wt_f32.entry(p).or_default(),
                    &mut self.gy_bf16,
                    &mut prm.g,
                    if need_gx { Some(gx) } else { None },
                    gy,
                    &self.acts[inp],
                    &prm.w,
                    &s,
                    gy_fresh,
                    gx_add,
                    to16.then_some(&mut self.g16),
                )?;
                if wrote16 {
                    self.g16_of = Some(inp);
                    self.g16_slots += 1;
                }
                Ok(())
            }
            Node::Bn {
                gamma,
                beta,
                st,
                c,
                hw,
                inp,
                ..
            } => {
                let s = BnSpec::new(n * hw, c);
                let b = &self.bn[st];
                let (pg, pb) = two_mut(&mut self.params, gamma, beta);
                nn_ops::batchnorm_bwd(
                    dev,
                    gx,
                    &mut pg.g,
                    &mut pb.g,
                    gy,
                    &self.acts[inp],
                    &pg.w,
                    &b.mean,
                    &b.rstd,
                    &s,
                    groups,
                )
            }
            Node::Relu { inp, .. } => ops::relu_bwd_f32(dev, gx, gy, &self.acts[inp]),
            Node::ShortcutA { h, w, c, pad, .. } => {
                nn_ops::shortcut_a_bwd(dev, gx, gy, n, h, w, c, pad)
            }
            Node::Pool { hw, c, .. } => nn_ops::avgpool_bwd(dev, gx, gy, n, hw, c),
            Node::Linear {
                w,
                b,
                din,
                dout,
                inp,
                ..
            } => {
                if let (Some(s), Device::Cuda(d)) = (self.linear_tc(n, din, dout), dev) {
                    // The bias gradient, then the weight's and (need_gx) the input's on the bf16
                    // 1x1 convolution (gy cast into its copy once for both).
                    if let (Buffer::Cuda(gb), Buffer::Cuda(g)) = (&mut self.params[b].g, gy) {
                        crate::device::cuda::linear::col_sum_f32(d, gb, g, n, dout)?;
                    } else {
                        return Err(Error::usage(
                            "linear on tensor cores: CUDA buffers expected",
                        ));
                    }
                    let prm = &mut self.params[w];
                    conv_tc::conv_bwd_kept(
                        dev,
                        self.conv_precision,
                        self.conv_version,
                        &mut self.act_bf16[inp],
                        self.w_bf16.entry(w).or_default(),
                        self.wt_bf16.entry(w).or_default(),
                        self.wt_f32.entry(w).or_default(),
                        &mut self.gy_bf16,
                        &mut prm.g,
                        if need_gx { Some(gx) } else { None },
                        gy,
                        &self.acts[inp],
                        &prm.w,
                        &s,
                        false,
                        false,
                        None,
                    )?;
                    self.gy_bf16_of = None; // the shared gy copy now holds this layer's gradient
                    return Ok(());
                }
                let (pw, pb) = two_mut(&mut self.params, w, b);
                nn_ops::linear_bwd(
                    dev,
                    if need_gx { Some(gx) } else { None },
                    &mut pw.g,
                    Some(&mut pb.g),
                    gy,
                    &self.acts[inp],
                    &pw.w,
                    n,
                    din,
                    dout,
                )
            }
            Node::Add { .. } => Ok(()),
        }
    }

    /// One AdamW update of every parameter (no weight decay on 1-D parameters).
    pub fn adamw_step(&mut self, h: &AdamW) -> Result<()> {
        // The bf16 weight copies describe the weights the last forward used.
        self.w_bf16.values_mut().for_each(Bf16Copy::stale);
        self.wt_bf16.values_mut().for_each(Bf16Copy::stale);
        self.wt_f32.values_mut().for_each(DevCopy::stale);
        let dev = self.dev.clone();
        if let (Device::Cuda(d), true) = (&dev, adamw_multi()) {
            let mut ts = Vec::with_capacity(self.params.len());
            for p in &mut self.params {
                let decay = p.decays();
                match (&mut p.w, &p.g, &mut p.m, &mut p.v) {
                    (Buffer::Cuda(w), Buffer::Cuda(g), Buffer::Cuda(m), Buffer::Cuda(v)) => ts
                        .push(AdamwTensor {
                            p: w,
                            g,
                            m,
                            v,
                            decay,
                        }),
                    _ => return Err(Error::usage("adamw: parameters off the network's GPU")),
                }
            }
            return crate::device::cuda::elementwise::adamw_multi_f32(
                d,
                &mut self.adamw_table,
                &mut ts,
                h,
            );
        }
        for p in &mut self.params {
            let hp = if p.decays() {
                *h
            } else {
                AdamW {
                    weight_decay: 0.0,
                    ..*h
                }
            };
            ops::adamw_f32(&dev, &mut p.w, &p.g, &mut p.m, &mut p.v, &hp)?;
        }
        Ok(())
    }

    /// Every tensor of the PyTorch state_dict (parameters and BN running statistics), PyTorch layouts.
    pub fn state_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.params.iter().map(|p| p.name.clone()).collect();
        for b in &self.bn {
            v.push(format!("{}.running_mean", b.name));
            v.push(format!("{}.running_var", b.name));
        }
        v
    }

    /// A state_dict tensor on the host, in PyTorch's layout (OIHW convolutions): (shape, values).
    pub fn get_tensor(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        if let Some(p) = self.params.iter().find(|p| p.name == name) {
            let host = p.w.to_host(&self.dev)?;
            let v = match p.kind {
                ParamKind::Conv => {
                    ohwi_to_oihw(&host, p.shape[0], p.shape[1], p.shape[2], p.shape[3])
                }
                _ => host,
            };
            return Ok((p.shape.clone(), v));
        }
        for b in &self.bn {
            if name == format!("{}.running_mean", b.name) {
                return Ok((vec![b.c], b.running_mean.to_host(&self.dev)?));
            }
            if name == format!("{}.running_var", b.name) {
                return Ok((vec![b.c], b.running_var.to_host(&self.dev)?));
            }
        }
        Err(Error::usage(format!(
            "the {:?} network has no tensor named {name:?}",
            self.arch
        )))
    }

    /// Sets a state_dict tensor from PyTorch's layout; the shape must match.
    pub fn set_tensor(&mut self, name: &str, shape: &[usize], data: &[f32]) -> Result<()> {
        let dev = self.dev.clone();
        if let Some(p) = self.params.iter_mut().find(|p| p.name == name) {
            if p.shape != shape || data.len() != p.len() {
                return Err(Error::usage(format!(
                    "tensor {name}: shape {shape:?} given, the network has {:?}",
                    p.shape
                )));
            }
            let v = match p.kind {
                ParamKind::Conv => {
                    oihw_to_ohwi(data, p.shape[0], p.shape[1], p.shape[2], p.shape[3])
                }
                _ => data.to_vec(),
            };
            p.w = Buffer::from_host(&dev, &v)?;
            self.w_bf16.values_mut().for_each(Bf16Copy::stale);
            self.wt_bf16.values_mut().for_each(Bf16Copy::stale);
            self.wt_f32.values_mut().for_each(DevCopy::stale);
            return Ok(());
        }
        for b in &mut self.bn {
            let slot = if name == format!("{}.running_mean", b.name) {
                &mut b.running_mean
            } else if name == format!("{}.running_var", b.name) {
                &mut b.running_var
            } else {
                continue;
            };
            if shape != [b.c] {
                return Err(Error::usage(format!(
                    "tensor {name}: shape {shape:?} given, the network has [{}]",
                    b.c
                )));
            }
            *slot = Buffer::from_host(&dev, data)?;
            return Ok(());
        }
        Err(Error::usage(format!(
            "the {:?} network has no tensor named {name:?}",
            self.arch
        )))
    }

    /// Sets a parameter's gradient from PyTorch's layout (tests and gradient checks).
    pub fn set_grad(&mut self, name: &str, shape: &[usize], data: &[f32]) -> Result<()> {
        let dev = self.dev.clone();
        let p = self
            .params
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::usage(format!("no parameter {name:?}")))?;
        if p.shape != shape || data.len() != p.len() {
            return Err(Error::usage(format!(
                "gradient {name}: shape {shape:?} given, the network has {:?}",
                p.shape
            )));
        }
        let v = match p.kind {
            ParamKind::Conv => oihw_to_ohwi(data, p.shape[0], p.shape[1], p.shape[2], p.shape[3]),
            _ => data.to_vec(),
        };
        p.g = Buffer::from_host(&dev, &v)?;
        Ok(())
    }

    /// A parameter's gradient on the host in PyTorch's layout.
    pub fn get_grad(&self, name: &str) -> Result<Vec<f32>> {
        let p = self
            .params
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::usage(format!("no parameter {name:?}")))?;
        let host = p.g.to_host(&self.dev)?;
        Ok(match p.kind {
            ParamKind::Conv => ohwi_to_oihw(&host, p.shape[0], p.shape[1], p.shape[2], p.shape[3]),
            _ => host,
        })
    }
}

impl ResNet {
    /// Installs (or removes, with `None`) the per-node hook; returns the previous one.
    pub fn set_profiler(
        &mut self,
        p: Option<Box<dyn NodeProfiler>>,
    ) -> Option<Box<dyn NodeProfiler>> {
        std::mem::replace(&mut self.profiler, p)
    }

    /// Fused batch-norm tails: BN → ReLU as `batchnorm_relu`, BN → add → ReLU as `batchnorm_add_relu`
    /// (norm.cu v2 on a GPU, validated on an H200; the composition of the unfused references on the
    /// CPU, the same bits as off). Default: on, unless `IPDPP_FUSED_BN=0` ([`fused_bn_default`]).
    /// Takes effect at the next forward; a backward follows the setting of
    /// the forward before it.
    pub fn set_fused_bn(&mut self, on: bool) {
        self.fused_bn = on;
    }
    pub fn fused_bn(&self) -> bool {
        self.fused_bn
    }
    /// v3 batch-norm tails of the last backward that wrote only the bf16 gradient copy.
    pub fn copy_only_tails(&self) -> usize {
        self.copy_only_tails
    }

    /// v3 tails of the last forward that wrote only their output's bf16 copy.
    pub fn copy_only_outputs(&self) -> usize {
        self.copy_only_outputs
    }

    /// v6 residual tails of the last forward that read their shortcut as its bf16 copy.
    pub fn sc16_tails(&self) -> usize {
        self.sc16_tails
    }

    /// Convolutions of the last backward whose grad-input kernel added into an existing gradient.
    pub fn grad_adds_in_conv(&self) -> usize {
        self.grad_adds_in_conv
    }

    /// The fused batch-norm tails' version (v2, or v3 as `IPDPP_BN_TAIL=v3` asks), for A/B tests in one
    /// process.
    pub fn set_bn_tail(&mut self, v: BnTailVersion) {
        self.bn_tail = v;
    }

    /// Residual tails of the last backward that took their ReLU mask from the bits of their forward (v3).
    pub fn relu_bits_used(&self) -> usize {
        self.relu_bits_used
    }

    /// The fused tails' version.
    pub fn bn_tail(&self) -> BnTailVersion {
        self.bn_tail
    }

    /// Convolutions of the last forward that stored their output only as bf16 for a v4/v5 tail.
    pub fn x16_outputs(&self) -> usize {
        self.x16_slots
    }

    /// Convolutions of the last backward that stored their grad-input only as bf16 for a v5 tail.
    pub fn g16_grad_inputs(&self) -> usize {
        self.g16_slots
    }

    /// Lets the bf16 v6/v7 grad-input kernels add into a block input's gradient (the default, unless
    /// `IPDPP_CONV_GX_ADD=0`), or not: the gradient then goes to a scratch buffer and an add pass.
    pub fn set_conv_grad_adds(&mut self, on: bool) {
        self.conv_adds = on;
    }

    /// Fuse projection shortcuts' batch norms into the residual tails (SBN) or not, from the next forward
    /// on (re-plans; default [`sc_bn_default`]).
    pub fn set_sc_bn(&mut self, on: bool) {
        if on == self.sc_bn {
            return;
        }
        let p = Plan::new(&self.nodes, &self.slot_size, on);
        self.fusion = p.fusion;
        self.fused_unused = p.fused_unused;
        self.tail_input = p.tail_input;
        self.relu_tail_bn = p.relu_tail_bn;
        self.sc_bn = on;
        // Reallocates the activations for the new set of unused slots.
        self.batch = 0;
    }

    pub fn sc_bn(&self) -> bool {
        self.sc_bn
    }

    /// Residual tails that apply their projection shortcut's batch norm (SBN).
    pub fn sc_bn_tails(&self) -> usize {
        self.fusion
            .iter()
            .filter(|f| matches!(f, Fuse::BnAddRelu { sc_bn: Some(_), .. }))
            .count()
    }

    pub fn fused_bn_counts(&self) -> (usize, usize) {
        let pairs = self
            .fusion
            .iter()
            .filter(|f| matches!(f, Fuse::BnRelu { .. }))
            .count();
        let tails = self
            .fusion
            .iter()
            .filter(|f| matches!(f, Fuse::BnAddRelu { .. }))
            .count();
        (pairs, tails)
    }

    /// Numeric mode of the convolutions (GPU only: the CPU always runs the exact fp32 reference).
    pub fn set_conv_precision(&mut self, p: ConvPrecision) {
        self.conv_precision = p;
    }
    pub fn conv_precision(&self) -> ConvPrecision {
        self.conv_precision
    }
    /// The tensor-core convolution generation this network asks for (each op may run an older one, see
    /// `conv_tc::effective_version`); the bf16 copies kept by v6 are dropped when it changes.
    pub fn set_conv_version(&mut self, v: TcVersion) {
        if v != self.conv_version {
            self.act_bf16.iter_mut().for_each(Bf16Copy::stale);
            self.w_bf16.clear();
            self.wt_bf16.clear();
            self.wt_f32.clear();
            self.gy_bf16 = Bf16Copy::default();
            self.gy_bf16_of = None;
        }
        self.conv_version = v;
    }
    pub fn conv_version(&self) -> TcVersion {
        self.conv_version
    }

    /// Number of nodes (forward order); the projector starts at [`ResNet::projector_start`].
    pub fn num_nodes(&self) -> usize {
        self.nodes.len()
    }
    pub fn projector_start(&self) -> usize {
        self.proj_start
    }

    /// Names, ops, shapes and FLOPs of every node, in forward order.
    pub fn node_info(&self) -> Vec<NodeInfo> {
        let prefix = |p: usize| {
            let n = &self.params[p].name;
            n.strip_suffix(".weight").unwrap_or(n).to_string()
        };
        // The block a parameterless node belongs to: the module path of the last parameterised node.
        let block_of = |path: &str| -> String {
            let parts: Vec<&str> = path.split('.').collect();
            if parts[0].starts_with("layer") || parts[0] == "blocks" {
                parts[..2.min(parts.len())].join(".")
            } else if parts[0] == "proj" {
                "proj".into()
            } else {
                String::new()
            }
        };
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut last = String::new();
        let mut relus: HashMap<String, usize> = HashMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let block = block_of(&last);
            let join = |b: &str, k: &str| {
                if b.is_empty() {
                    k.to_string()
                } else {
                    format!("{b}.{k}")
                }
            };
            let mut kernels = String::new();
            let (name, op, shape, f, b) = match *node {
                Node::Conv {
                    p,
                    cin,
                    cout,
                    k,
                    stride,
                    h,
                    w,
                    inp,
                    pad,
                    ..
                } => {
                    let s = ConvSpec::new(1, h, w, cin, cout, k, stride, pad);
                    let kf = |op: &str| {
                        conv_tc::kernel_for(
                            &self.dev,
                            self.conv_precision,
                            self.conv_version,
                            op,
                            &s,
                        )
                    };
                    let gx = if inp == 0 {
                        "-".into()
                    } else {
                        kf("bwd_input")
                    };
                    let padded = self.dev.cuda().and_then(|d| {
                        conv_tc::stem_padded_channels(d, self.conv_version, self.conv_precision, &s)
                    });
                    let gw = match padded {
                        Some(cp) => format!("v6 pad{cp}"),
                        None => kf("bwd_weight"),
                    };
                    let fwd = match self.dev.cuda() {
                        Some(_) if conv_tc::stem_direct(self.conv_version, &s) => "direct".into(),
                        Some(d)
                            if conv_tc::stem_fwd_runs_im2col(
                                d,
                                self.conv_version,
                                self.conv_precision,
                                &s,
                            ) =>
                        {
                            "v6 im2col".into()
                        }
                        Some(d)
                            if conv_tc::stem_fwd_runs_padded(
                                d,
                                self.conv_version,
                                self.conv_precision,
                                &s,
                            ) =>
                        {
                            "v6 pad8".into()
                        }
                        _ => kf("fwd"),
                    };
                    kernels = format!("{fwd}/{gx}/{gw}");
                    last = prefix(p);
                    let pad = k / 2;
                    let (oh, ow) = (
                        (h + 2 * pad - k) / stride + 1,
                        (w + 2 * pad - k) / stride + 1,
                    );
                    let f = 2.0 * (oh * ow * cout * k * k * cin) as f64;
                    (
                        last.clone(),
                        format!("conv{k}x{k}s{stride}"),
                        format!("{h}x{w}x{cin}->{oh}x{ow}x{cout}"),
                        f,
                        if inp == 0 { f } else { 2.0 * f },
                    )
                }
                Node::Bn { gamma, c, hw, .. } => {
                    last = prefix(gamma);
                    (
                        last.clone(),
                        "batchnorm".into(),
                        format!("{hw}x{c}"),
                        0.0,
                        0.0,
                    )
                }
                Node::Linear { w, din, dout, .. } => {
                    last = prefix(w);
                    let f = 2.0 * (din * dout) as f64;
                    (
                        last.clone(),
                        "linear".into(),
                        format!("{din}->{dout}"),
                        f,
                        2.0 * f,
                    )
                }
                Node::Relu { inp, .. } => {
                    let k = relus.entry(block.clone()).or_insert(0);
                    *k += 1;
                    let nm = if *k == 1 && block.is_empty() {
                        "relu".to_string()
                    } else {
                        format!("relu{k}")
                    };
                    (
                        join(&block, &nm),
                        "relu".into(),
                        format!("{}", self.slot_size[inp]),
                        0.0,
                        0.0,
                    )
                }
                Node::Add { out, .. } => (
                    join(&block, "add"),
                    "add".into(),
                    format!("{}", self.slot_size[out]),
                    0.0,
                    0.0,
                ),
                Node::ShortcutA { h, w, c, pad, .. } => (
                    join(&block, "shortcut"),
                    "shortcut_a".into(),
                    format!("{h}x{w}x{c}+pad{pad}"),
                    0.0,
                    0.0,
                ),
                Node::Pool { hw, c, .. } => (
                    "avgpool".into(),
                    "avgpool".into(),
                    format!("{hw}x{c}"),
                    0.0,
                    0.0,
                ),
            };
            // Fused batch-norm tails: the op runs at its first node, the nodes it absorbs do nothing.
            let op = match (self.fused_bn, self.fusion[i]) {
                (false, _) | (true, Fuse::No) => op,
                (true, Fuse::BnRelu { .. }) => "bn_relu".into(),
                (true, Fuse::BnAddRelu { .. }) => "bn_add_relu".into(),
                (true, Fuse::Absorbed) => "fused".into(),
                (true, Fuse::ScStats) => "bn_stats".into(),
            };
            out.push(NodeInfo {
                name,
                op,
                shape,
                fwd_flops_per_image: f,
                bwd_flops_per_image: b,
                kernels,
            });
        }
        out
    }
}

/// A convolution node's shape at batch `n`, and its input slot.
fn conv_spec(node: &Node, n: usize) -> Option<(ConvSpec, usize)> {
    match *node {
        Node::Conv {
            inp,
            cin,
            cout,
            k,
            stride,
            pad,
            h,
            w,
            ..
        } => Some((
            ConvSpec {
                n,
                h,
                w,
                c: cin,
                o: cout,
                kh: k,
                kw: k,
                stride,
                pad,
            },
            inp,
        )),
        _ => None,
    }
}

/// `v[m]` mutably and `v[a]`, `v[b]` (when given) shared; the three indices distinct.
fn mut_and_two<T>(v: &mut [T], m: usize, a: usize, b: Option<usize>) -> (&mut T, &T, Option<&T>) {
    assert!(
        m != a && Some(m) != b && Some(a) != b,
        "mut_and_two needs distinct indices"
    );
    let (mut em, mut ea, mut eb) = (None, None, None);
    for (i, e) in v.iter_mut().enumerate() {
        if i == m {
            em = Some(e);
        } else if i == a {
            ea = Some(&*e);
        } else if Some(i) == b {
            eb = Some(&*e);
        }
    }
    (
        em.expect("index m in range"),
        ea.expect("index a in range"),
        eb,
    )
}

fn two_mut<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    assert!(a != b, "two_mut needs distinct indices");
    if a < b {
        let (l, r) = v.split_at_mut(b);
        (&mut l[a], &mut r[0])
    } else {
        let (l, r) = v.split_at_mut(a);
        (&mut r[0], &mut l[b])
    }
}
