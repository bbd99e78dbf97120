//! Checkpoints: weights as safetensors (PyTorch state_dict names and layouts, loadable with
//! `safetensors.torch.load_file`), optimiser moments as a second safetensors file (`<param>.exp_avg`,
//! `<param>.exp_avg_sq`), progress / RNG / schedule state as JSON.
//!
//! Atomicity: a checkpoint is a folder `checkpoints/<tag>/` written completely (every file through a
//! temporary name and a rename), then `checkpoints/latest.json` is replaced atomically to point at it.
//! A run killed at any moment leaves `latest.json` pointing at a complete checkpoint.
//! Writing happens on a background thread (the tensors are copied to the host first).
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Named f32 tensors (name → (shape, values)), sorted by name.
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Writes `bytes` to `path` through `path.tmp` + fsync + rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_file_name(format!(
        "{}.tmp",
        path.file_name().and_then(|s| s.to_str()).unwrap_or("file")
    ));
    {
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// The safetensors encoding: u64 LE header length, JSON header (padded with spaces to 8 bytes), data.
pub fn encode_safetensors(t: &Tensors, metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert(
            "__metadata__".into(),
            serde_json::to_value(metadata).unwrap_or_default(),
        );
    }
    let mut off = 0usize;
    for (name, (shape, v)) in t {
        let n: usize = shape.iter().product();
        if n != v.len() {
            return Err(Error::usage(format!(
                "tensor {name}: shape {shape:?} holds {n} values, {} given",
                v.len()
            )));
        }
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [off, off + 4 * n]}),
        );
        off += 4 * n;
    }
    let mut h = serde_json::to_vec(&header).map_err(|e| Error::usage(format!("JSON: {e}")))?;
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + off);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for (_, v) in t.values() {
        for x in v {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    Ok(out)
}

/// Reads an F32 safetensors file written by [`encode_safetensors`] (or by PyTorch).
pub fn read_safetensors(path: &Path) -> Result<Tensors> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |why: &str| {
        Error::usage(format!(
            "{}: not a readable safetensors file ({why}); the checkpoint is damaged: resume from an \
             earlier one or start the run again",
            path.display()
        ))
    };
    if bytes.len() < 8 {
        return Err(bad("shorter than its 8-byte header length"));
    }
    let hl = u64::from_le_bytes(bytes[..8].try_into().map_err(|_| bad("header length"))?) as usize;
    if 8 + hl > bytes.len() {
        return Err(bad("header runs past the end"));
    }
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + hl]).map_err(|_| bad("header is not JSON"))?;
    let data = &bytes[8 + hl..];
    let mut out = Tensors::new();
    for (name, v) in header {
        if name == "__metadata__" {
            continue;
        }
        if v.get("dtype").and_then(|d| d.as_str()) != Some("F32") {
            return Err(bad(&format!("tensor {name} is not F32")));
        }
        let shape: Vec<usize> = serde_json::from_value(v["shape"].clone())
            .map_err(|_| bad(&format!("tensor {name}: shape")))?;
        let offs: [usize; 2] = serde_json::from_value(v["data_offsets"].clone())
            .map_err(|_| bad(&format!("tensor {name}: data_offsets")))?;
        let n: usize = shape.iter().product();
        if offs[1] < offs[0] || offs[1] > data.len() || offs[1] - offs[0] != 4 * n {
            return Err(bad(&format!(
                "tensor {name}: offsets do not match its shape"
            )));
        }
        let vals = data[offs[0]..offs[1]]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.insert(name, (shape, vals));
    }
    Ok(out)
}

/// Everything one checkpoint holds, on the host.
pub struct Snapshot {
    pub tag: String,
    pub model: Tensors,
    pub optimizer: Tensors,
    pub state: serde_json::Value,
}

/// Writes a snapshot as `dir/<tag>/{model,optimizer}.safetensors + state.json`, then points
/// `dir/latest.json` at it and removes older checkpoints except those whose tag is in `keep`.
pub fn write_snapshot(dir: &Path, s: &Snapshot, keep: &[String]) -> Result<PathBuf> {
    let d = dir.join(&s.tag);
    std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    let meta: BTreeMap<String, String> = [("format".to_string(), "pt".to_string())]
        .into_iter()
        .collect();
    write_atomic(
        &d.join("model.safetensors"),
        &encode_safetensors(&s.model, &meta)?,
    )?;
    write_atomic(
        &d.join("optimizer.safetensors"),
        &encode_safetensors(&s.optimizer, &meta)?,
    )?;
    let js = serde_json::to_vec_pretty(&s.state).map_err(|e| Error::usage(format!("JSON: {e}")))?;
    write_atomic(&d.join("state.json"), &js)?;
    let ptr = serde_json::json!({ "checkpoint": s.tag });
    write_atomic(&dir.join("latest.json"), ptr.to_string().as_bytes())?;
    // Older checkpoints go once the new one is in place (stage ends are kept).
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if e.path().is_dir() && name != s.tag && !keep.contains(&name) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(d)
}

/// The bits of every float of `v`, depth first (object members in key order). serde_json writes the
/// shortest decimal that round-trips, but its default parser may land one ulp off; a checkpoint stores
/// these beside its JSON so that a resumed run gets every float back exactly ([`set_f64_bits`]).
pub fn f64_bits(v: &serde_json::Value) -> Vec<u64> {
    fn walk(v: &serde_json::Value, out: &mut Vec<u64>) {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                out.push(n.as_f64().unwrap_or(f64::NAN).to_bits())
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

/// Puts the floats recorded by [`f64_bits`] back into `v` (the same value read back from JSON); false
/// when their number or places do not match (nothing is changed then).
pub fn set_f64_bits(v: &mut serde_json::Value, bits: &[u64]) -> bool {
    fn walk(v: &mut serde_json::Value, bits: &[u64], at: &mut usize, write: bool) -> bool {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                let Some(&b) = bits.get(*at) else {
                    return false;
                };
                *at += 1;
                let x = f64::from_bits(b);
                // The decimal read back must be this float, give or take the parser's rounding.
                let near = n
                    .as_f64()
                    .is_some_and(|y| (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs()));
                if !near {
                    return false;
                }
                if write {
                    if let Some(m) = serde_json::Number::from_f64(x) {
                        *n = m;
                    }
                }
                true
            }
            serde_json::Value::Array(a) => a.iter_mut().all(|x| walk(x, bits, at, write)),
            serde_json::Value::Object(o) => o.values_mut().all(|x| walk(x, bits, at, write)),
            _ => true,
        }
    }
    let mut at = 0;
    if !walk(v, bits, &mut at, false) || at != bits.len() {
        return false;
    }
    let mut at = 0;
    walk(v, bits, &mut at, true)
}

/// The checkpoint `latest.json` points at, if any.
pub fn latest(dir: &Path) -> Result<Option<PathBuf>> {
    let p = dir.join("latest.json");
    if !p.is_file() {
        return Ok(None);
    }
    let s = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
    let v: serde_json::Value = serde_json::from_str(&s).map_err(|_| {
        Error::usage(format!(
            "{}: not JSON; delete it to resume from the newest checkpoints/<tag>/ folder",
            p.display()
        ))
    })?;
    let tag = v["checkpoint"]
        .as_str()
        .ok_or_else(|| Error::usage(format!("{}: no \"checkpoint\" field", p.display())))?;
    Ok(Some(dir.join(tag)))
}

/// A checkpoint read back: (model, optimizer, state).
pub fn read_snapshot(d: &Path) -> Result<(Tensors, Tensors, serde_json::Value)> {
    let model = read_safetensors(&d.join("model.safetensors"))?;
    let opt = read_safetensors(&d.join("optimizer.safetensors"))?;
    let sp = d.join("state.json");
    let s = std::fs::read_to_string(&sp).map_err(|e| Error::io(&sp, e))?;
    let state = serde_json::from_str(&s)
        .map_err(|e| Error::usage(format!("{}: not valid JSON ({e})", sp.display())))?;
    Ok((model, opt, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_come_back_exactly() {
        // Values serde_json's default parser reads one ulp off (seen with serde_json 1.0.154).
        let xs: [f64; 4] = [
            98.83853299755387,
            10.893787974773417,
            0.00037971425703671756,
            31.574822131280026,
        ];
        let v = serde_json::json!({"b": xs, "a": {"x": 1.5, "n": 3, "s": "t"}, "c": null});
        let bits = f64_bits(&v);
        assert_eq!(bits.len(), 5);
        let mut back: serde_json::Value = serde_json::from_str(&v.to_string()).unwrap();
        assert!(set_f64_bits(&mut back, &bits));
        for (i, x) in xs.iter().enumerate() {
            assert_eq!(back["b"][i].as_f64().unwrap().to_bits(), x.to_bits());
        }
        assert_eq!(back, v);
        // Bits that do not belong to the value are refused and change nothing.
        let before = back.clone();
        assert!(!set_f64_bits(&mut back, &bits[1..]));
        let mut wrong = bits.clone();
        wrong.swap(0, 4);
        assert!(!set_f64_bits(&mut back, &wrong));
        assert_eq!(back, before);
    }

    #[test]
    fn safetensors_round_trip_and_layout() {
        let mut t = Tensors::new();
        t.insert(
            "a.weight".into(),
            (vec![2, 3], (0..6).map(|x| x as f32 * 0.5).collect()),
        );
        t.insert("b".into(), (vec![1], vec![-1.25]));
        let bytes = encode_safetensors(&t, &BTreeMap::new()).unwrap();
        let hl = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(hl % 8, 0);
        assert_eq!(bytes.len(), 8 + hl + 4 * 7);
        let dir = std::env::temp_dir().join(format!("ipdpp-st-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.safetensors");
        write_atomic(&p, &bytes).unwrap();
        assert_eq!(read_safetensors(&p).unwrap(), t);
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        assert!(read_safetensors(&p).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
