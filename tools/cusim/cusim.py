"""cusim: run a kernels/*.cu file on the CPU (see cusim.h for the execution model and what it checks).

    mod = cusim.Module("kernels/wgmma.cu")           # translate + g++ (cached by source hash)
    job = mod.job()
    c = job.buf(np.zeros((m, n), np.float32))          # buffers are copied in and read back after the run
    job.launch("gemm_wgmma_bf16_n64", grid=(gx, gy), block=128, smem=bytes, args=[c, a, b, m, n, k])
    out = job.run()                                    # {handle: array}; out[c] is the result

The translation inlines the file's #includes, maps `extern __shared__` to the launch's dynamic shared memory
and rewrites every inline-PTX statement into a call of the simulator (an instruction it does not know is an
error, never a silent no-op). Compiled as a non-PIE executable so that static __shared__ arrays get 32-bit
addresses, as shared-space addresses are on the GPU.
"""
import hashlib
import os
import re
import struct
import subprocess
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("CUSIM_CACHE", os.path.join(ROOT, "target", "cusim"))


class TranslateError(Exception):
    pass


def _inline_includes(path, seen):
    out = []
    for line in open(path).read().splitlines():
        m = re.match(r'\s*#include\s+"([^"]+)"', line)
        if m:
            inc = os.path.join(os.path.dirname(path), m.group(1))
            if inc not in seen:
                seen.add(inc)
                out.append(_inline_includes(inc, seen))
            continue
        if re.match(r"\s*#include\s+<cuda", line) or re.match(r"\s*#pragma\s+once", line):
            continue
        out.append(line)
    return "\n".join(out)


def _skip_string(s, i):
    """s[i] is a quote; returns the index after the closing quote."""
    q = s[i]
    i += 1
    while s[i] != q:
        i += 2 if s[i] == "\\" else 1
    return i + 1


def _split_top(s, sep):
    """Splits s at `sep` outside parentheses, brackets and strings."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(s):
        ch = s[i]
        if ch in "\"'":
            j = _skip_string(s, i)
            cur.append(s[i:j])
            i = j
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _operands(section):
    ops = []
    for part in _split_top(section, ","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r'"([^"]*)"\s*\((.*)\)$', part, re.S)
        if not m:
            raise TranslateError(f"cannot parse asm operand {part!r}")
        ops.append((m.group(1), m.group(2).strip()))
    return ops


def wgmma_operands(m, t, op):
    """The parts every wgmma.mma_async shares: N, the accumulator address list, the operands after the
    descriptors (scale-d predicate, scale-a, scale-b, ...) and the scale-d condition."""
    n = int(m.group(1))
    d = [op(x) for x in m.group(2).split(",")]
    if len(d) != n // 2:
        raise TranslateError(f"wgmma n{n} with {len(d)} accumulators")
    rest = [x.strip() for x in m.group(5).split(",")]
    pm = re.search(r"setp\.ne\.b32 p, (%\d+), 0;", t)
    if rest[0] != "p" or not pm:
        raise TranslateError(f"wgmma scale-d predicate not recognised in {t!r}")
    if rest[1:3] != ["1", "1"]:
        raise TranslateError(f"wgmma with negated operands is not modelled: {t!r}")
    return n, "{" + ", ".join(f"&{x}" for x in d) + "}", rest, f"(({op(pm.group(1))}) != 0)"


def _rewrite_asm(body):
    """body: the text inside asm(...). Returns a C++ statement (without the trailing semicolon)."""
    sections = _split_top(body, ":")
    template = "".join(bytes(x, "ascii").decode("unicode_escape") for x in re.findall(r'"((?:[^"\\]|\\.)*)"', sections[0]))
    outs = _operands(sections[1]) if len(sections) > 1 else []
    ins = _operands(sections[2]) if len(sections) > 2 else []
    ops = [e for _, e in outs] + [e for _, e in ins]

    def op(tok):
        m = re.fullmatch(r"%(\d+)", tok.strip())
        if m:
            return f"({ops[int(m.group(1))]})"
        if re.fullmatch(r"-?\d+", tok.strip()):
            return tok.strip()
        raise TranslateError(f"operand {tok!r} in {template!r}")

    t = " ".join(template.replace("\n", " ").split())
    if t == "":  # an empty template only pins its register operands for the compiler (b6_keep)
        return "(void)0"
    if t == "ex2.approx.ftz.f32 %0, %1;":  # exact here; the MUFU's relative error is ~2^-22
        return f"{ops[0]} = std::exp2({ops[1]})"
    if t == "lg2.approx.ftz.f32 %0, %1;":  # exact here; the MUFU's absolute error is ~2^-22
        return f"{ops[0]} = std::log2({ops[1]})"
    if t.startswith("cvt.rn.bf16x2.f32"):
        return f"{ops[0]} = ::sim::pack_bf16x2({ops[1]}, {ops[2]})"
    if t.startswith("cvt.rn.bf16.f32"):
        return f"{ops[0]} = ::sim::f32_to_bf16({ops[1]})"
    if t.startswith("cvt.rna.tf32.f32"):
        return f"{ops[0]} = ::sim::f32_to_tf32({ops[1]})"
    if t.startswith("cvt.rn.tf32.f32"):
        return f"{ops[0]} = ::sim::f32_to_tf32_rn({ops[1]})"
    if t.startswith("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32") or t.startswith(
            "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32"):
        fn = "mma_bf16" if "bf16" in t else "mma_tf32"
        if len(ops) != 10:
            raise TranslateError(f"mma with {len(ops)} operands")
        return f"::sim::{fn}(&{ops[0]}, &{ops[1]}, &{ops[2]}, &{ops[3]}, " + ", ".join(ops[4:]) + ")"
    m = re.match(r"ldmatrix\.sync\.aligned\.m8n8\.x4(\.trans)?\.shared\.b16", t)
    if m:
        return (f"::sim::ldmatrix_x4(&{ops[0]}, &{ops[1]}, &{ops[2]}, &{ops[3]}, {ops[4]}, "
                f"{'true' if m.group(1) else 'false'})")
    m = re.match(r"cp\.async\.(?:ca|cg)\.shared\.global \[(%\d+)\], \[(%\d+)\], (\d+)(?:, (%\d+))?;", t)
    if m:
        src = op(m.group(4)) if m.group(4) else m.group(3)
        return f"::sim::cp_async({op(m.group(1))}, {op(m.group(2))}, {m.group(3)}, {src})"
    if t == "cp.async.commit_group;":
        return "::sim::cp_async_commit()"
    m = re.fullmatch(r"cp\.async\.wait_group (%\d+|\d+);", t)
    if m:
        return f"::sim::cp_async_wait({op(m.group(1))})"
    if t == "cp.async.wait_all;":
        return "(::sim::cp_async_commit(), ::sim::cp_async_wait(0))"
    if t.startswith("fence.proxy.async"):
        return "(void)0"
    if t == "wgmma.fence.sync.aligned;":
        return "::sim::wgmma_fence()"
    if t == "wgmma.commit_group.sync.aligned;":
        return "::sim::wgmma_commit()"
    m = re.fullmatch(r"wgmma\.wait_group\.sync\.aligned (%\d+|\d+);", t)
    if m:
        return f"::sim::wgmma_wait({op(m.group(1))})"
    if t.startswith("mov.u32 %0, %%dynamic_smem_size;"):
        return f"{ops[0]} = ::sim::g.smem_bytes"
    m = re.search(r"wgmma\.mma_async\.sync\.aligned\.m64n(\d+)k16\.f32\.bf16\.bf16 \{([^}]*)\}, (\{[^}]*\}|%\d+), (%\d+), (.*);", t)
    if m:
        n, dl, rest, scale_d = wgmma_operands(m, t, op)
        if m.group(3).startswith("{"):
            a = [op(x) for x in m.group(3)[1:-1].split(",")]
            if len(rest) != 4:
                raise TranslateError(f"register-A wgmma: {t!r}")
            tb = op(rest[3])
            return (f"do {{ float* __d[] = {dl}; const unsigned __a[4] = {{{', '.join(a)}}}; "
                    f"::sim::wgmma({n}, __d, __a, 0ull, {op(m.group(4))}, {scale_d}, false, ({tb}) != 0); }} while (0)")
        if len(rest) != 5:
            raise TranslateError(f"wgmma: {t!r}")
        return (f"do {{ float* __d[] = {dl}; ::sim::wgmma({n}, __d, nullptr, {op(m.group(3))}, {op(m.group(4))}, {scale_d}, "
                f"({op(rest[3])}) != 0, ({op(rest[4])}) != 0); }} while (0)")
    m = re.search(r"wgmma\.mma_async\.sync\.aligned\.m64n(\d+)k8\.f32\.tf32\.tf32 \{([^}]*)\}, (%\d+), (%\d+), (.*);", t)
    if m:  # tf32: both operands from descriptors, K-major (no transpose immediates)
        n, dl, rest, scale_d = wgmma_operands(m, t, op)
        if len(rest) != 3:
            raise TranslateError(f"tf32 wgmma operands not recognised in {t!r}")
        return (f"do {{ float* __d[] = {dl}; ::sim::wgmma({n}, __d, nullptr, {op(m.group(3))}, {op(m.group(4))}, "
                f"{scale_d}, false, false, true); }} while (0)")
    raise TranslateError(f"inline PTX not modelled by cusim: {t!r}")


def translate(src):
    out, i = [], 0
    pat = re.compile(r"\basm\s*(volatile\s*)?\(")
    while True:
        m = pat.search(src, i)
        if not m:
            out.append(src[i:])
            break
        out.append(src[i:m.start()])
        j, depth = m.end(), 1
        while depth:
            ch = src[j]
            if ch in "\"'":
                j = _skip_string(src, j)
                continue
            depth += ch == "("
            depth -= ch == ")"
            j += 1
        out.append(_rewrite_asm(src[m.end():j - 1]))
        i = j
    s = "".join(out)
    s = re.sub(r"extern\s+__shared__\s+(?:__align__\(\d+\)\s+)?([\w ]+?)\s+(\w+)\s*\[\s*\]\s*;",
               r"\1* \2 = reinterpret_cast<\1*>(::sim::g.smem);", s)
    return _rewrite_static_shared(s)


def _rewrite_static_shared(s):
    """`__shared__ [__align__(a)] T x[d]..[, y[e]..];` -> references into the simulator's shared window."""
    ids = iter(range(1, 1 << 30))

    def one(m):
        align = m.group(1) or "alignof(" + m.group(2) + ")"
        ty, out = m.group(2), []
        for decl in _split_top(m.group(3), ","):
            dm = re.fullmatch(r"\s*(\w+)\s*((?:\[[^\]]+\])*)\s*", decl)
            if not dm:
                raise TranslateError(f"shared declaration {m.group(0)!r}")
            name, dims = dm.group(1), dm.group(2)
            full = f"{ty}{dims}"
            out.append(f"{ty} (&{name}){dims} = *reinterpret_cast<{ty} (*){dims}>(::sim::shared_static({next(ids)}, "
                       f"sizeof({full}), {align}));" if dims else
                       f"{ty}& {name} = *reinterpret_cast<{ty}*>(::sim::shared_static({next(ids)}, sizeof({ty}), {align}));")
        return " ".join(out)

    s = re.sub(r"__shared__\s+(?:__align__\((\d+)\)\s+)?((?:unsigned |signed |const )*\w+)\s+([^;]+);", one, s)
    if "__shared__" in s:
        raise TranslateError("a __shared__ declaration cusim does not understand: " + s[s.index("__shared__"):][:120])
    return s


SCALARS = {"int": "i", "unsigned": "I", "unsigned int": "I", "float": "f", "double": "d", "long long": "q",
           "unsigned long long": "Q", "long": "q", "size_t": "Q", "bool": "?"}


def _structs(src):
    """Plain structs of ints/floats passed by value (`struct ConvDims { int n, h, ...; };`) -> struct formats."""
    out = {}
    for m in re.finditer(r"struct\s+(\w+)\s*\{([^{}]*)\};", src):
        fmt = ""
        for field in m.group(2).split(";"):
            field = field.strip()
            if not field:
                continue
            fm = re.fullmatch(r"(int|float|unsigned)\s+([\w\s,]+)", field)
            if not fm:
                fmt = None
                break
            fmt += {"int": "i", "float": "f", "unsigned": "I"}[fm.group(1)] * len(fm.group(2).split(","))
        if fmt:
            out[m.group(1)] = fmt
    return out


def kernels_of(src, strict=True):
    """{name: [param kinds]} of the extern "C" __global__ functions: 'p' pointer, else a struct format."""
    ks, structs = {}, _structs(src)
    for m in re.finditer(r'extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s*)?(\w+)\s*\(([^)]*)\)', src):
        kinds = []
        for p in _split_top(m.group(2), ","):
            p = " ".join(p.replace("__restrict__", "").split())
            if not p:
                continue
            if "*" in p:
                kinds.append("p")
                continue
            ty = " ".join(re.sub(r"\bconst\b", "", p).split()[:-1])
            if ty in structs:
                kinds.append(structs[ty])
                continue
            if ty not in SCALARS and not strict:  # the driver library binds by C++ type; Job needs formats
                kinds.append(None)
                continue
            if ty not in SCALARS:
                raise TranslateError(f"kernel {m.group(1)}: parameter type {ty!r}")
            kinds.append(SCALARS[ty])
        ks[m.group(1)] = kinds
    return ks


RUNNER = r"""
#include <cstdio>
static std::vector<unsigned char> cusim_read(const char* path) {
    FILE* f = std::fopen(path, "rb");
    if (!f) ::sim::fail("cannot open %s", path);
    std::vector<unsigned char> v;
    unsigned char b[1 << 16];
    size_t n;
    while ((n = std::fread(b, 1, sizeof b, f)) > 0) v.insert(v.end(), b, b + n);
    std::fclose(f);
    return v;
}
struct CusimKernel { const char* name; std::function<void()> (*bind)(void**); };
static const CusimKernel cusim_kernels[] = {
%TABLE%
};
int main(int argc, char** argv) {
    if (argc != 3) ::sim::fail("usage: runner JOB OUT");
    std::vector<unsigned char> job = cusim_read(argv[1]);
    size_t at = 0;
    auto take = [&](size_t n) { if (at + n > job.size()) ::sim::fail("truncated job"); const unsigned char* p = job.data() + at; at += n; return p; };
    auto u32 = [&]() { unsigned v; std::memcpy(&v, take(4), 4); return v; };
    auto u64 = [&]() { unsigned long long v; std::memcpy(&v, take(8), 8); return v; };
    const unsigned nbuf = u32();
    std::vector<unsigned char*> bufs(nbuf);
    std::vector<size_t> sizes(nbuf);
    for (unsigned i = 0; i < nbuf; ++i) {
        sizes[i] = u64();
        bufs[i] = static_cast<unsigned char*>(std::aligned_alloc(256, (sizes[i] + 256) / 256 * 256));
        std::memcpy(bufs[i], take(sizes[i]), sizes[i]);
        ::sim::g.buffers.push_back({bufs[i], sizes[i]});
    }
    const unsigned nops = u32();
    for (unsigned o = 0; o < nops; ++o) {
        const unsigned kind = u32();
        if (kind == 1) {
            const unsigned b = u32(), v = u32();
            std::memset(bufs[b], static_cast<int>(v), sizes[b]);
            continue;
        }
        const unsigned nl = u32();
        std::string name(reinterpret_cast<const char*>(take(nl)), nl);
        dim3 grid, block;
        grid.x = u32(); grid.y = u32(); grid.z = u32();
        block.x = u32(); block.y = u32(); block.z = u32();
        const unsigned smem = u32();
        ::sim::g.policy = static_cast<int>(u32());
        const unsigned nargs = u32();
        std::vector<unsigned long long> store(nargs * 8);  // 64 bytes per argument
        std::vector<void*> args(nargs);
        for (unsigned a = 0; a < nargs; ++a) {
            const unsigned ak = u32();
            if (ak == 0) {
                const unsigned b = u32();
                const unsigned long long off = u64();
                unsigned char* p = bufs[b] + off;
                std::memcpy(&store[8 * a], &p, sizeof p);
            } else {
                const unsigned len = u32();
                if (len > 64) ::sim::fail("argument of %u bytes", len);
                std::memcpy(&store[8 * a], take(len), len);
            }
            args[a] = &store[8 * a];
        }
        const CusimKernel* k = nullptr;
        for (const CusimKernel& c : cusim_kernels)
            if (name == c.name) k = &c;
        if (!k) ::sim::fail("no kernel %s in this file", name.c_str());
        static std::string keep;
        keep = name;
        ::sim::launch(keep.c_str(), grid, block, smem, k->bind(args.data()));
    }
    FILE* f = std::fopen(argv[2], "wb");
    for (unsigned i = 0; i < nbuf; ++i) std::fwrite(bufs[i], 1, sizes[i], f);
    std::fclose(f);
    return 0;
}
"""


# -fsanitize=alignment: a float4 / uint2 access off its alignment stops the run, as it faults on the GPU.
# __CUDA_ARCH__: the simulated device is an sm_90 (what the fake driver reports), so kernels take their sm_90
# branches (tc_tf32_hw's one-instruction rounding).
GXX_FLAGS = ["-std=c++17", "-g", "-w", "-fsanitize=alignment", "-fno-sanitize-recover=alignment", "-D__CUDA_ARCH__=900"]


LIBRARY = r"""
#define CUSIM_EXPORT extern "C" __attribute__((visibility("default")))
struct CusimKernel { const char* name; std::function<void()> (*bind)(void**); };
static const CusimKernel cusim_kernels[] = {
%TABLE%
};
CUSIM_EXPORT const char* cusim_names() { return "%NAMES%"; }
CUSIM_EXPORT void cusim_set_global_check(bool (*f)(const void*, size_t)) { ::sim::g.global_check = f; }
CUSIM_EXPORT int cusim_launch(const char* name, const unsigned* grid, const unsigned* block, unsigned smem, void** args,
                              int policy) {
    for (const CusimKernel& k : cusim_kernels)
        if (!std::strcmp(name, k.name)) {
            ::sim::g.policy = policy;
            ::sim::launch(k.name, dim3(grid[0], grid[1], grid[2]), dim3(block[0], block[1], block[2]), smem, k.bind(args));
            return 0;
        }
    return -1;
}
"""


def _source(kernel_file, strict=True):
    """(path, kernel table, kernel names, translated C++) of a kernel file."""
    path = kernel_file if os.path.isabs(kernel_file) else os.path.join(ROOT, kernel_file)
    src = _inline_includes(path, set())
    kernels = kernels_of(src, strict)
    table = "\n".join(f'    {{"{k}", [](void** a) {{ return ::sim::bind_args(&{k}, a); }}}},' for k in kernels)
    return path, table, kernels, '#include "cusim.h"\n' + translate(src)


def _compile(code, out, flags, what):
    """g++ `code` into `out` through pid-named temporaries (concurrent builds of one output are safe)."""
    cpp, tmp = f"{out}.{os.getpid()}.cpp", f"{out}.{os.getpid()}.tmp"
    with open(cpp, "w") as f:
        f.write(code)
    r = subprocess.run(["g++", *GXX_FLAGS, *flags, "-I", HERE, cpp, "-o", tmp], capture_output=True, text=True)
    if r.returncode:
        raise TranslateError(f"g++ failed for {what} (source kept at {cpp}):\n{r.stderr[-6000:]}")
    os.replace(tmp, out)
    os.remove(cpp)


def build_library(kernel_file, out, opt="-O1"):
    """kernel_file as a shared library for the fake driver (fake_driver.cpp): cusim_names, cusim_launch."""
    _, table, kernels, code = _source(kernel_file, strict=False)
    code += LIBRARY.replace("%TABLE%", table).replace("%NAMES%", "\\n".join(kernels))
    _compile(code, out, [opt, "-fPIC", "-shared", "-fvisibility=hidden"], kernel_file)


class Module:
    def __init__(self, kernel_file, opt="-O1"):
        path, table, self.kernels, code = _source(kernel_file)
        code += RUNNER.replace("%TABLE%", table)
        header = open(os.path.join(HERE, "cusim.h")).read()
        key = hashlib.sha256((code + header + opt + " ".join(GXX_FLAGS)).encode()).hexdigest()[:16]
        os.makedirs(CACHE, exist_ok=True)
        base = os.path.splitext(os.path.basename(path))[0]
        self.exe = os.path.join(CACHE, f"{base}-{key}")
        if not os.path.exists(self.exe):
            _compile(code, self.exe, [opt], kernel_file)

    def job(self):
        return Job(self)


class RunError(Exception):
    pass


# cusim.h's AsyncTiming flags by name.
TIMING = {"lazy": 0, "cp-eager": 16, "wgmma-eager": 32, "eager": 48}


class Job:
    def __init__(self, mod):
        self.mod, self.bufs, self.ops = mod, [], []

    def buf(self, array):
        self.bufs.append(np.ascontiguousarray(array))
        return len(self.bufs) - 1

    def memset(self, handle, value=0):
        self.ops.append(struct.pack("<III", 1, handle, value))

    def launch(self, name, grid, block, smem=0, args=(), reverse=False, policy=None, timing="lazy"):
        """policy: cusim.h's Policy (default greedy lowest-first; reverse=True means greedy highest-first).
        timing: when cp.async copies and wgmma ops complete (cusim.h's AsyncTiming): "lazy" (at their wait),
        "cp-eager", "wgmma-eager" or "eager" (both at issue)."""
        if policy is None:
            policy = 3 if reverse else 2
        policy |= TIMING[timing]
        kinds = self.mod.kernels.get(name)
        if kinds is None:
            raise RunError(f"no kernel {name}")
        if len(kinds) != len(args):
            raise RunError(f"{name} takes {len(kinds)} arguments, got {len(args)}")
        dims = lambda v: (tuple(v) + (1, 1, 1))[:3] if isinstance(v, (tuple, list)) else (v, 1, 1)
        out = [struct.pack("<I", 0), struct.pack("<I", len(name)), name.encode(),
               struct.pack("<7I", *dims(grid), *dims(block), smem), struct.pack("<II", policy, len(args))]
        for kind, a in zip(kinds, args):
            if kind == "p" and a is None:  # a null pointer
                out.append(struct.pack("<II", 1, 8) + bytes(8))
            elif kind == "p":
                h, off = a if isinstance(a, tuple) else (a, 0)
                out.append(struct.pack("<IIQ", 0, h, off * self.bufs[h].itemsize))
            else:
                raw = struct.pack("<" + kind, *(a if len(kind) > 1 else (a,)))
                out.append(struct.pack("<II", 1, len(raw)) + raw)
        self.ops.append(b"".join(out))

    def run(self, timeout=600, memstats=False):
        """Runs the job; returns {handle: array}. memstats: also fills self.memstats with one dict per launch
        (cusim.h's MemStats: ldmatrix / cp.async shared-memory wavefronts and cp.async global sectors, each
        with its conflict-free / fully coalesced ideal)."""
        with tempfile.TemporaryDirectory() as d:
            jp, op = os.path.join(d, "job"), os.path.join(d, "out")
            env = dict(os.environ)
            env.pop("CUSIM_MEMSTATS", None)
            if memstats:
                env["CUSIM_MEMSTATS"] = os.path.join(d, "memstats")
            with open(jp, "wb") as f:
                f.write(struct.pack("<I", len(self.bufs)))
                for b in self.bufs:
                    raw = b.tobytes()
                    f.write(struct.pack("<Q", len(raw)) + raw)
                f.write(struct.pack("<I", len(self.ops)))
                for o in self.ops:
                    f.write(o)
            r = subprocess.run([self.mod.exe, jp, op], capture_output=True, text=True, timeout=timeout, env=env)
            if r.returncode:
                raise RunError((r.stderr or f"exit {r.returncode}").strip()[-4000:])
            raw = open(op, "rb").read()
            self.memstats = [parse_memstats(line) for line in open(env["CUSIM_MEMSTATS"])] if memstats else []
        res, at = {}, 0
        for i, b in enumerate(self.bufs):
            res[i] = np.frombuffer(raw[at:at + b.nbytes], dtype=b.dtype).reshape(b.shape).copy()
            at += b.nbytes
        return res


def parse_memstats(line):
    """One CUSIM_MEMSTATS line: {"kernel", "ldmatrix": (instructions, wavefronts, ideal), "cp.async": (...),
    "sectors": (touched, ideal)}."""
    t = line.split()
    return {"kernel": t[0], "ldmatrix": tuple(map(int, t[2:5])), "cp.async": tuple(map(int, t[6:9])),
            "sectors": tuple(map(int, t[10:12]))}
