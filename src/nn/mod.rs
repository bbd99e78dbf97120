//! Networks: ResNet-18/34 with the CIFAR stem and ResNet-32 (option-A shortcuts), with the projector
//! MLP. Explicit forward and backward over a fixed list of nodes, buffers allocated once per batch size.
pub mod param;
pub mod resnet;

pub use param::{Param, ParamKind};
pub use resnet::{Arch, Mode, ResNet};
