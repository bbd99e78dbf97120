//! Parts of one node's backward timed apart: a convolution's grad-input and grad-weight, for the per-layer
//! table and trace of `ipdpp bench resnet`. The profiler installs a thread-local sink while it records
//! (the step runs on the thread that profiles it); without one a part costs a thread-local read.
use std::cell::RefCell;

/// A part of a convolution's backward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    GradInput,
    GradWeight,
}

impl Part {
    /// Short name for tables and traces.
    pub fn short(self) -> &'static str {
        match self {
            Part::GradInput => "gx",
            Part::GradWeight => "gw",
        }
    }
}

/// Receives the begin and end of each part run on this thread.
pub trait PartSink {
    fn begin(&mut self, part: Part);
    fn end(&mut self, part: Part);
}

thread_local! {
    static SINK: RefCell<Option<Box<dyn PartSink>>> = const { RefCell::new(None) };
}

/// Installs (or removes, with `None`) this thread's sink; returns the previous one.
pub fn set_sink(sink: Option<Box<dyn PartSink>>) -> Option<Box<dyn PartSink>> {
    SINK.with(|s| std::mem::replace(&mut *s.borrow_mut(), sink))
}

fn mark(part: Part, begin: bool) {
    SINK.with(|s| {
        if let Some(k) = s.borrow_mut().as_mut() {
            if begin {
                k.begin(part)
            } else {
                k.end(part)
            }
        }
    })
}

/// Runs `f` as `part`: the sink (if any) sees its begin before and its end after.
pub fn timed<R>(part: Part, f: impl FnOnce() -> R) -> R {
    mark(part, true);
    let r = f();
    mark(part, false);
    r
}
