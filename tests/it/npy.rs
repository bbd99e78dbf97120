//! .npy round trips and the errors a user sees for bad files.
use ipdpp::npy::{self, NpyData};

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ipdpp-npy-{}-{name}", std::process::id()))
}

#[test]
fn round_trip_each_written_dtype() {
    let p = tmp("f32.npy");
    npy::write_f32(&p, &[2, 3], &[1.0, -2.5, 3.0, 4.0, 5.0, f32::MAX]).unwrap();
    let r = npy::read(&p).unwrap();
    assert_eq!(r.shape, vec![2, 3]);
    assert_eq!(
        r.data,
        NpyData::F32(vec![1.0, -2.5, 3.0, 4.0, 5.0, f32::MAX])
    );
    let p64 = tmp("f64.npy");
    npy::write_f64(&p64, &[3], &[0.1, 1e300, -0.0]).unwrap();
    assert_eq!(npy::read(&p64).unwrap().to_f64(), vec![0.1, 1e300, -0.0]);
    let pi = tmp("i64.npy");
    npy::write_i64(&pi, &[2, 2], &[0, -1, i64::MAX, 7]).unwrap();
    let ri = npy::read(&pi).unwrap();
    assert_eq!(
        (ri.shape.clone(), ri.to_i64().unwrap()),
        (vec![2, 2], vec![0, -1, i64::MAX, 7])
    );
    for f in [p, p64, pi] {
        let bytes = std::fs::read(&f).unwrap();
        // Data starts 64-byte aligned, as numpy writes it.
        let hl = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hl) % 64, 0);
        std::fs::remove_file(f).unwrap();
    }
}

#[test]
fn parses_numpy_written_header_variants() {
    // Header as numpy 1.x writes it for a 1-D int32 array (version 1.0).
    let mut h = String::from("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    for v in [5i32, -6, 7] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    let r = npy::parse(&b).unwrap();
    assert_eq!(r.to_i64().unwrap(), vec![5, -6, 7]);
    // Scalars (shape ()) hold one value.
    let mut s = b.clone();
    let at = s.windows(4).position(|w| w == b"(3,)").unwrap();
    s[at..at + 4].copy_from_slice(b"()  ");
    let r0 = npy::parse(&s).unwrap();
    assert_eq!((r0.shape.len(), r0.len()), (0, 1));
}

#[test]
fn bad_files_are_errors_naming_the_file() {
    let missing = tmp("missing.npy");
    assert!(npy::read(&missing)
        .unwrap_err()
        .to_string()
        .contains("missing.npy"));
    let junk = tmp("junk.npy");
    std::fs::write(&junk, b"not numpy at all").unwrap();
    let e = npy::read(&junk).unwrap_err().to_string();
    assert!(e.contains("junk.npy") && e.contains("magic"), "{e}");
    let trunc = tmp("trunc.npy");
    npy::write_f64(&trunc, &[4], &[1.0, 2.0, 3.0, 4.0]).unwrap();
    let bytes = std::fs::read(&trunc).unwrap();
    std::fs::write(&trunc, &bytes[..bytes.len() - 5]).unwrap();
    let e = npy::read(&trunc).unwrap_err().to_string();
    assert!(e.contains("trunc.npy") && e.contains("needs 32"), "{e}");
    assert!(npy::write_f32(tmp("shape.npy"), &[3], &[1.0]).is_err());
    for f in [junk, trunc] {
        std::fs::remove_file(f).unwrap();
    }
}
