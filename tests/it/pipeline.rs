//! The two-stage pipeline end to end on the CPU: artifacts, accuracy above chance, resume after a kill,
//! NaN handling, the CIFAR-10-LT fixture with ResNet-32, usage errors.
use crate::common::{bin, fixture};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tmp_runs(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ipdpp-pipeline-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ipdpp(args: &[&str]) -> (i32, String, String) {
    ipdpp_with(args, &[])
}

fn ipdpp_with(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let o = Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run the ipdpp binary");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json(p: &Path) -> Value {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn metrics(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A small synthetic demo: 6 classes, 90 → 18 images, short schedules, ResNet-8.
fn tiny_args<'a>(runs: &'a str, name: &'a str) -> Vec<&'a str> {
    vec![
        "--device",
        "cpu",
        "demo",
        "--runs-dir",
        runs,
        "--name",
        name,
        "--synthetic-classes",
        "6",
        "--synthetic-n-max",
        "90",
        "--synthetic-test",
        "20",
        "--imbalance",
        "5",
        "--many-above",
        "50",
        "--few-below",
        "30",
        "--batch1",
        "42",
        "--epochs1",
        "3",
        "--probe-epochs",
        "3",
        "--probe-per-class",
        "30",
        "--epochs2",
        "4",
        "--reselect-every",
        "2",
        "--k",
        "40",
        "--lr2",
        "3e-3",
        "--batch2",
        "16",
        "--eval-batch",
        "64",
        "--checkpoint-every",
        "0",
        "--seed",
        "5",
        "--crop-min",
        "1.0",
    ]
}

fn accuracy_fields(a: &Value) -> Vec<String> {
    ["overall", "many", "medium", "few", "per_class", "confusion"]
        .iter()
        .map(|k| a[*k].to_string())
        .collect()
}

#[test]
fn tiny_end_to_end_on_synthetic_data() {
    let runs = tmp_runs("tiny");
    let rs = runs.to_str().unwrap();
    let t = Instant::now();
    // IPDPP_SC_BN=1 is the CPU's default: it changes nothing here but must be recorded in results.json.
    let (code, out, err) = ipdpp_with(&tiny_args(rs, "t"), &[("IPDPP_SC_BN", "1")]);
    assert_eq!(code, 0, "{out}\n{err}");
    println!("{out}\n{err}\ntook {:.1} s", t.elapsed().as_secs_f64());
    let dir = runs.join("t");
    // Tables on stdout.
    assert!(
        out.contains("Linear probe") && out.contains("Final"),
        "{out}"
    );
    assert!(out.contains("overall") && out.contains("medium"), "{out}");
    // config.json round-trips the overrides.
    let cfg = json(&dir.join("config.json"));
    assert_eq!(cfg["stage1"]["epochs"], 3);
    assert_eq!(cfg["stage2"]["k"], 40);
    assert_eq!(cfg["arch"], "ResNet8");
    // metrics.jsonl: one line per epoch and stage, plus the events.
    let m = metrics(&dir);
    let count = |stage: &str| {
        m.iter()
            .filter(|l| l["stage"] == stage && l.get("event").is_none())
            .count()
    };
    assert_eq!(
        (count("stage1"), count("probe"), count("stage2")),
        (3, 3, 4)
    );
    for l in m.iter().filter(|l| l.get("event").is_none()) {
        assert!(l["loss"].as_f64().unwrap().is_finite(), "{l}");
        assert!(l["seconds"].as_f64().unwrap() > 0.0, "{l}");
        assert!(l["images_per_s"].as_f64().unwrap() > 0.0, "{l}");
    }
    let selects: Vec<&Value> = m.iter().filter(|l| l["event"] == "select").collect();
    assert_eq!(selects.len(), 2, "selection at stage-2 epochs 0 and 2");
    // results.json: probe and final, per class, confusion, selection reports.
    let r = json(&dir.join("results.json"));
    assert_eq!(r["stage"], "done");
    assert!(
        r["engine_switches"]
            .as_array()
            .is_some_and(|s| s.iter().any(|kv| kv[0] == "IPDPP_SC_BN" && kv[1] == "1")),
        "the switches the run used: {}",
        r["engine_switches"]
    );
    for which in ["probe", "final"] {
        let a = &r[which];
        assert_eq!(a["per_class"].as_array().unwrap().len(), 6, "{a}");
        let conf = a["confusion"].as_array().unwrap();
        let total: u64 = conf
            .iter()
            .flat_map(|row| row.as_array().unwrap())
            .map(|x| x.as_u64().unwrap())
            .sum();
        assert_eq!(total, 120, "every test image is counted once");
        assert_eq!(a["split"]["many_classes"], 2, "{a}");
    }
    let sel = r["selections"].as_array().unwrap();
    assert_eq!(sel.len(), 2);
    assert_eq!(sel[0]["source"], "probe");
    assert_eq!(sel[1]["source"], "model");
    // Counts 90, 65, 47, 34, 24, 18 with k = 40: 40 + 40 + 40 + 34 + 24 + 18.
    assert_eq!(sel[0]["kept"], 196);
    assert_eq!(sel[0]["report"]["classes"].as_array().unwrap().len(), 6);
    // Checkpoints: stage ends kept, safetensors readable, latest points at the end of stage 2.
    let ck = dir.join("checkpoints");
    for tag in ["stage1-end", "probe-end", "stage2-end"] {
        let t = ipdpp::train::checkpoint::read_safetensors(&ck.join(tag).join("model.safetensors"))
            .unwrap();
        let (shape, _) = &t["conv1.weight"];
        assert_eq!(shape, &vec![16, 3, 3, 3], "PyTorch OIHW layout");
        assert!(t.contains_key("fc.weight") && t.contains_key("bn1.running_var"));
        let o =
            ipdpp::train::checkpoint::read_safetensors(&ck.join(tag).join("optimizer.safetensors"))
                .unwrap();
        assert!(o.contains_key("conv1.weight.exp_avg_sq"));
    }
    assert!(json(&ck.join("latest.json"))["checkpoint"] == "stage2-end");
    let leftovers: Vec<_> = std::fs::read_dir(&ck)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("-e0"))
        .collect();
    assert!(leftovers.is_empty(), "intermediate checkpoints are removed");
    let fin = r["final"]["overall"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&fin), "{fin}");
    // `eval` re-evaluates the finished run and gets the same numbers.
    let (code, out, err) = ipdpp(&[
        "--device",
        "cpu",
        "eval",
        "--runs-dir",
        rs,
        "--name",
        "t",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let again: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        accuracy_fields(&again["final"]),
        accuracy_fields(&r["final"])
    );
    let _ = std::fs::remove_dir_all(&runs);
}

#[test]
fn killed_and_resumed_run_equals_uninterrupted_run() {
    let runs = tmp_runs("resume");
    let rs = runs.to_str().unwrap();
    // Uninterrupted.
    let (code, out, err) = ipdpp(&tiny_args(rs, "a"));
    assert_eq!(code, 0, "{out}\n{err}");
    // Killed in stage 1 once a checkpoint exists, then resumed.
    let mut child = Command::new(bin())
        .args(tiny_args(rs, "b"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let latest = runs.join("b/checkpoints/latest.json");
    let t = Instant::now();
    while !latest.is_file() {
        assert!(
            t.elapsed() < Duration::from_secs(50),
            "no checkpoint appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "run b ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = json(&latest);
    println!("killed with latest checkpoint {before}");
    assert!(
        before["checkpoint"]
            .as_str()
            .unwrap()
            .starts_with("stage1-e"),
        "the kill came mid-stage-1: {before}"
    );
    assert!(
        !runs.join("b/results.json").is_file() || {
            let r = json(&runs.join("b/results.json"));
            r["final"].is_null()
        }
    );
    let mut args = tiny_args(rs, "b");
    args.push("--resume");
    let (code, out, err) = ipdpp(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("resuming"), "{err}");
    let (ra, rb) = (
        json(&runs.join("a/results.json")),
        json(&runs.join("b/results.json")),
    );
    for which in ["probe", "final"] {
        assert_eq!(
            accuracy_fields(&ra[which]),
            accuracy_fields(&rb[which]),
            "{which}"
        );
    }
    // The same subsets were drawn (timings aside).
    let sel = |r: &Value| -> Vec<String> {
        r["selections"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["report"]["classes"].as_array().unwrap().clone())
            .map(|c| {
                format!(
                    "{} {} {} {}",
                    c["class"], c["k"], c["mean_p_kept"], c["mean_p_dropped"]
                )
            })
            .collect()
    };
    assert_eq!(sel(&ra), sel(&rb));
    // Same losses, epoch by epoch, and the same number of lines (the resumed run truncated its tail).
    let strip = |m: Vec<Value>| -> Vec<String> {
        m.into_iter()
            .map(|l| format!("{} {} {} {}", l["stage"], l["epoch"], l["event"], l["loss"]))
            .collect()
    };
    assert_eq!(
        strip(metrics(&runs.join("a"))),
        strip(metrics(&runs.join("b")))
    );
    let _ = std::fs::remove_dir_all(&runs);
}

/// `progress` of the checkpoint `latest.json` points at, with its tag; None while there is none or while
/// it is being replaced (a newer checkpoint removes the older one).
fn latest_progress(run: &Path) -> Option<(String, Value)> {
    let ck = run.join("checkpoints");
    let ptr: Value =
        serde_json::from_str(&std::fs::read_to_string(ck.join("latest.json")).ok()?).ok()?;
    let tag = ptr["checkpoint"].as_str()?.to_string();
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(ck.join(&tag).join("state.json")).ok()?)
            .ok()?;
    Some((tag, state["progress"].clone()))
}

/// (batches done, batches) of a checkpoint taken inside an epoch.
fn inside(progress: &Value) -> Option<(u64, u64)> {
    let ie = progress.get("in_epoch")?;
    Some((ie["batches_done"].as_u64()?, ie["batches"].as_u64()?))
}

/// Starts `args`, kills the process once its latest checkpoint satisfies `at`, and returns the tag and
/// progress of the checkpoint a resume continues from.
fn kill_when(args: &[&str], run: &Path, at: impl Fn(&Value) -> bool) -> (String, Value) {
    let mut child = Command::new(bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        if latest_progress(run).is_some_and(|(_, p)| at(&p)) {
            break;
        }
        if t.elapsed() > Duration::from_secs(90) || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the awaited checkpoint never appeared; last: {:?}",
                latest_progress(run)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    latest_progress(run).expect("a checkpoint after the kill")
}

/// `field`'s value as it is written in a metrics.jsonl line (the exact decimal, no float parsing).
fn raw_field(line: &str, field: &str) -> String {
    let key = format!("\"{field}\":");
    match line.find(&key) {
        Some(i) => line[i + key.len()..]
            .split([',', '}'])
            .next()
            .unwrap_or("")
            .to_string(),
        None => "-".into(),
    }
}

/// Asserts that runs `a` and `b` ended the same: metrics.jsonl line by line (losses and learning rates
/// as written, events, selections; not timings), probe and final accuracies, the selections drawn, and
/// the final weights bit for bit.
fn assert_same_outcome(a: &Path, b: &Path) {
    let lines = |d: &Path| -> Vec<String> {
        std::fs::read_to_string(d.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                [
                    "stage", "epoch", "event", "loss", "lr", "images", "views", "source", "kept",
                ]
                .iter()
                .map(|f| raw_field(l, f))
                .collect::<Vec<_>>()
                .join(" ")
            })
            .collect()
    };
    let (la, lb) = (lines(a), lines(b));
    assert_eq!(la.len(), lb.len(), "metrics.jsonl lines\n{la:#?}\n{lb:#?}");
    for (x, y) in la.iter().zip(&lb) {
        assert_eq!(x, y, "metrics.jsonl");
    }
    let (ra, rb) = (json(&a.join("results.json")), json(&b.join("results.json")));
    for which in ["probe", "final"] {
        assert_eq!(
            accuracy_fields(&ra[which]),
            accuracy_fields(&rb[which]),
            "{which}"
        );
    }
    // Every selection and its per-class report, timings aside.
    let sel = |r: &Value| -> Vec<String> {
        let mut out = Vec::new();
        for s in r["selections"].as_array().unwrap() {
            out.push(format!("{} {} {}", s["epoch"], s["source"], s["kept"]));
            for c in s["report"]["classes"].as_array().unwrap() {
                let mut c = c.clone();
                c.as_object_mut().unwrap().remove("ms");
                out.push(c.to_string());
            }
        }
        out
    };
    assert_eq!(sel(&ra), sel(&rb), "selections");
    let weights = |d: &Path| {
        ipdpp::train::checkpoint::read_safetensors(
            &d.join("checkpoints/stage2-end/model.safetensors"),
        )
        .unwrap()
    };
    assert!(weights(a) == weights(b), "final weights differ");
}

/// Checkpoints inside epochs: with `--checkpoint-every 0` one follows every optimiser step. A run killed
/// inside a stage-1 epoch, resumed, killed again inside the stage-2 epoch that began with a re-selection
/// from the model, and resumed again ends exactly as the uninterrupted run. Then an old-format checkpoint
/// (state.json without the fields added for this) resumes too.
#[test]
fn run_killed_inside_epochs_resumes_exactly() {
    let t = Instant::now();
    let runs = tmp_runs("inside");
    let rs = runs.to_str().unwrap();
    let args = |name: &'static str| {
        let a = with_arg(tiny_args(rs, name), "--epochs1", Some("2"));
        with_arg(a, "--epochs2", Some("3"))
    };
    let (code, out, err) = ipdpp(&args("a"));
    assert_eq!(code, 0, "{out}\n{err}");
    let ta = t.elapsed().as_secs_f64();
    let b = runs.join("b");
    // Inside stage-1 epoch 2 (of 6 batches), early enough that the next checkpoint is still inside it.
    let (tag, prog) = kill_when(&args("b"), &b, |p| {
        p["stage"] == "stage1" && p["epoch"] == 1 && inside(p).is_some_and(|(d, n)| d <= n - 3)
    });
    let (done, n) = inside(&prog).unwrap_or_else(|| panic!("{tag}: not inside an epoch: {prog}"));
    assert!(
        0 < done && done < n && prog["stage"] == "stage1",
        "{tag}: {prog}"
    );
    println!("first kill: resuming from {tag} ({done} of {n} batches)");
    let mut resume = args("b");
    resume.push("--resume");
    // Inside stage-2 epoch 3, which starts with a re-selection: the resumed run must not select again.
    let (tag, prog) = kill_when(&resume, &b, |p| {
        p["stage"] == "stage2" && p["epoch"] == 2 && inside(p).is_some_and(|(d, n)| d <= n - 4)
    });
    let (done, n) = inside(&prog).unwrap_or_else(|| panic!("{tag}: not inside an epoch: {prog}"));
    assert!(
        0 < done && done < n && prog["stage"] == "stage2",
        "{tag}: {prog}"
    );
    assert_eq!(prog["selections"].as_array().unwrap().len(), 2, "{prog}");
    println!("second kill: resuming from {tag} ({done} of {n} batches)");
    let (code, out, err) = ipdpp(&resume);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains(&format!("{done} of {n} batches of epoch 3")),
        "{err}"
    );
    assert_same_outcome(&runs.join("a"), &b);
    // An old checkpoint: stage1-end as written before (no progress.in_epoch, no progress_f64_bits).
    let ck = b.join("checkpoints");
    let sp = ck.join("stage1-end/state.json");
    let mut state = json(&sp);
    state.as_object_mut().unwrap().remove("progress_f64_bits");
    state["progress"]
        .as_object_mut()
        .unwrap()
        .remove("in_epoch");
    std::fs::write(&sp, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    std::fs::write(ck.join("latest.json"), r#"{"checkpoint":"stage1-end"}"#).unwrap();
    let (code, out, err) = ipdpp(&resume);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("resuming") && err.contains("stage1-end"),
        "{err}"
    );
    assert_same_outcome(&runs.join("a"), &b);
    println!(
        "uninterrupted run {ta:.1} s, whole test {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&runs);
}

#[test]
fn nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let runs = tmp_runs("nan");
    let rs = runs.to_str().unwrap();
    let mut args = tiny_args(rs, "n");
    args.extend(["--debug-nan-at", "stage1:2"]);
    let (code, out, err) = ipdpp(&args);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("NaN") && err.contains("stage1-e00001") && err.contains("--resume"),
        "{err}"
    );
    let ck = runs.join("n/checkpoints");
    assert_eq!(json(&ck.join("latest.json"))["checkpoint"], "stage1-e00001");
    assert!(ck.join("stage1-e00001/model.safetensors").is_file());
    let m = metrics(&runs.join("n"));
    assert_eq!(m.last().unwrap()["event"], "stopped");
    // Resuming without the fault finishes the run.
    let mut args = tiny_args(rs, "n");
    args.push("--resume");
    let (code, out, err) = ipdpp(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    let _ = std::fs::remove_dir_all(&runs);
}

#[test]
fn run_on_the_cifar10_lt_fixture_with_resnet32() {
    let runs = tmp_runs("fixture");
    let rs = runs.to_str().unwrap();
    let data = fixture("pipeline/cifar10lt-mini");
    let t = Instant::now();
    let (code, out, err) = ipdpp(&[
        "--device",
        "cpu",
        "run",
        "--data",
        data.to_str().unwrap(),
        "--imbalance",
        "10",
        "--arch",
        "resnet32",
        "--runs-dir",
        rs,
        "--name",
        "fx",
        "--epochs1",
        "1",
        "--batch1",
        "126",
        "--probe-epochs",
        "1",
        "--probe-per-class",
        "10",
        "--epochs2",
        "1",
        "--k",
        "30",
        "--many-above",
        "60",
        "--few-below",
        "25",
        "--eval-batch",
        "150",
    ]);
    println!("{out}\n{err}\ntook {:.1} s", t.elapsed().as_secs_f64());
    assert_eq!(code, 0, "{out}\n{err}");
    let r = json(&runs.join("fx/results.json"));
    assert_eq!(r["arch"], "resnet32");
    assert_eq!(
        r["train_counts"].to_string(),
        "[120,92,71,55,43,33,25,20,15,12]"
    );
    assert_eq!(
        r["final"]["test_counts"].to_string(),
        "[15,15,15,15,15,15,15,15,15,15]"
    );
    assert_eq!(r["selections"][0]["kept"], 30 * 6 + 25 + 20 + 15 + 12);
    let split = &r["final"]["split"];
    assert_eq!(
        (
            split["many_classes"].as_u64(),
            split["medium_classes"].as_u64(),
            split["few_classes"].as_u64()
        ),
        (Some(3), Some(4), Some(3))
    );
    let m = metrics(&runs.join("fx"));
    assert!(m.iter().any(|l| l["stage"] == "stage1" && l["epoch"] == 1));
    // Starting the same run again without --resume or --overwrite is refused.
    let (code, _, err) = ipdpp(&[
        "--device",
        "cpu",
        "run",
        "--data",
        data.to_str().unwrap(),
        "--imbalance",
        "10",
        "--runs-dir",
        rs,
        "--name",
        "fx",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--resume") && err.contains("--overwrite"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&runs);
}

#[test]
fn pipeline_usage_errors_name_the_fix() {
    let (code, _, err) = ipdpp(&["--device", "cpu", "run"]);
    assert_eq!(code, 2);
    assert!(err.contains("--data DIR"), "{err}");
    let (code, _, err) = ipdpp(&["--device", "cpu", "demo", "--batch1", "100"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("multiple of the group size") && err.contains("--batch1 98"),
        "{err}"
    );
    let (code, _, err) = ipdpp(&["--device", "cpu", "demo", "--arch", "vgg"]);
    assert_eq!(code, 2);
    assert!(err.contains("resnet32"), "{err}");
    let (code, _, err) = ipdpp(&["--device", "cpu", "demo", "--precision", "bf16"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--precision bf16") && err.contains("--precision fp32"),
        "{err}"
    );
    let runs = tmp_runs("usage");
    let (code, _, err) = ipdpp(&[
        "--device",
        "cpu",
        "probe",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--name",
        "none",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no run to continue"), "{err}");
    let _ = std::fs::remove_dir_all(&runs);
}

/// `tiny_args` with `flag`'s value replaced (or the flag and its value removed when `value` is None).
fn with_arg<'a>(mut args: Vec<&'a str>, flag: &str, value: Option<&'a str>) -> Vec<&'a str> {
    let i = args
        .iter()
        .position(|a| *a == flag)
        .unwrap_or_else(|| panic!("{flag} is not in the argument list"));
    match value {
        Some(v) => args[i + 1] = v,
        None => {
            args.drain(i..i + 2);
        }
    }
    args
}

/// The tiny synthetic set (6 classes, 90 → 18 training images, chance 16.7 %) with METHOD.md's SimCLR
/// augmentation (crop scale 0.08–1, flip p 0.5) and schedules long enough to learn, ~10–13 s on 2 cores:
/// stage 1 16 epochs of batch 14 (2 groups), probe 20 epochs, stage 2 12 epochs. On the CPU the run is
/// deterministic for a given OpenBLAS kernel, but so small that rounding moves it: with 8 stage-1 epochs
/// a Zen 5 VM (AVX-512 kernels, 2026-11-27) measured probe 30.8 % / final 63.3 % with one sgemm tiling and
/// 21.7 % / 35.8 % with another; with 16, 46.7 % / 70.0 % and 40.8 % / 63.3 %.
#[test]
fn tiny_run_beats_chance_clearly() {
    let runs = tmp_runs("chance");
    let rs = runs.to_str().unwrap();
    let mut args = with_arg(tiny_args(rs, "c"), "--crop-min", None);
    for (flag, v) in [
        ("--batch1", "14"),
        ("--epochs1", "16"),
        ("--probe-epochs", "20"),
        ("--probe-per-class", "60"),
        ("--epochs2", "12"),
        ("--reselect-every", "4"),
        ("--lr2", "2e-3"),
        // Stage ends only: a checkpoint after each of its ~300 steps would add ~15 s.
        ("--checkpoint-every", "1e9"),
    ] {
        args = with_arg(args, flag, Some(v));
    }
    let t = Instant::now();
    let (code, out, err) = ipdpp(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    println!("{out}\ntook {:.1} s", t.elapsed().as_secs_f64());
    let r = json(&runs.join("c/results.json"));
    let chance = 100.0 / 6.0;
    let probe = r["probe"]["overall"].as_f64().unwrap();
    let fin = r["final"]["overall"].as_f64().unwrap();
    assert!(
        probe > 1.5 * chance,
        "linear-probe accuracy {probe} % is not clearly above chance ({chance:.1} %)"
    );
    assert!(
        fin > 2.0 * chance,
        "final accuracy {fin} % is not clearly above chance ({chance:.1} %)"
    );
    let _ = std::fs::remove_dir_all(&runs);
}

/// tf32/bf16 are CUDA tensor-core modes: on the CPU device they are a usage error, refused before the run
/// folder is touched, whether given on the command line or stored in a run being continued; and a
/// continued run keeps the precision it was started with.
#[test]
fn precision_beyond_fp32_is_refused_on_the_cpu_and_kept_by_a_run() {
    let runs = tmp_runs("precision");
    let rs = runs.to_str().unwrap();
    let data = fixture("pipeline/cifar10lt-mini");
    let (code, _, err) = ipdpp(&[
        "--device",
        "cpu",
        "run",
        "--data",
        data.to_str().unwrap(),
        "--runs-dir",
        rs,
        "--name",
        "p",
        "--precision",
        "bf16",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--precision bf16") && err.contains("CPU"),
        "{err}"
    );
    assert!(!runs.join("p").exists(), "a refused run left a folder");
    // A run started elsewhere in tf32 (its config.json as `ipdpp run` writes it).
    let mut cfg = ipdpp::train::config::demo("q");
    cfg.precision = ipdpp::train::config::Precision::Tf32;
    std::fs::create_dir_all(runs.join("q")).unwrap();
    let cfg_path = runs.join("q/config.json");
    std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    let stored = json(&cfg_path);
    assert_eq!(stored["precision"], "tf32");
    let (code, _, err) = ipdpp(&["--device", "cpu", "probe", "--runs-dir", rs, "--name", "q"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--precision tf32") && err.contains("CPU"),
        "{err}"
    );
    let (code, _, err) = ipdpp(&[
        "--device",
        "cpu",
        "probe",
        "--runs-dir",
        rs,
        "--name",
        "q",
        "--precision",
        "fp32",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("started with --precision tf32"), "{err}");
    assert_eq!(
        json(&cfg_path),
        stored,
        "a refused continuation rewrote config.json"
    );
    let _ = std::fs::remove_dir_all(&runs);
}

// ---------------------------------------------------------------------------------------------
// CIFAR-100-LT end to end (issue #7): the paper preset for CIFAR-100 with ResNet-32 on a generated
// CIFAR-100-format binary fixture.

/// Largest class of the CIFAR-100 fixture and its imbalance factor (one of METHOD.md's IF values): the
/// long-tailed rule then keeps 20 → 1 images per class, 591 in all. 20 images is the smallest largest
/// class that puts a class in CIFAR-100's medium group (20–100), where CIFAR-10's rule would call it
/// few-shot; a many-shot class (> 100) needs ~2,150 training images, minutes of ResNet-32 on 2 cores.
const C100_N_MAX: usize = 20;
const C100_IF: f64 = 20.0;
const C100_TEST_PER_CLASS: usize = 2;

/// splitmix64: the fixture's deterministic random stream.
fn splitmix(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in [0, 1).
fn unit(s: &mut u64) -> f64 {
    (splitmix(s) >> 11) as f64 / (1u64 << 53) as f64
}

/// METHOD.md's long-tailed rule written out here, not taken from the crate: class i keeps
/// n_i = ⌊n_max · IF^(−i/(C−1))⌋ images (a value within 1e-9 of an integer is that integer).
fn method_lt_counts(n_max: usize, classes: usize, imbalance: f64) -> Vec<usize> {
    (0..classes)
        .map(|i| {
            let v = n_max as f64 * imbalance.powf(-(i as f64) / (classes - 1) as f64);
            if (v - v.round()).abs() < 1e-9 {
                v.round() as usize
            } else {
                v.floor() as usize
            }
        })
        .collect()
}

/// One 32×32 image of fine class `c` in CIFAR's layout (R, G, B planes, row-major): the class's colour
/// (a 5 × 5 × 4 grid of RGB levels, one cell per class) under the class's grating (4 orientations × 5
/// periods), with a per-image phase, brightness offset and pixel noise. Mean colour alone separates the
/// classes on clean images; the grating survives colour jitter and grayscale.
fn c100_image(c: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    let base = [
        30.0 + 48.0 * (c % 5) as f64,
        30.0 + 48.0 * (c / 5 % 5) as f64,
        30.0 + 60.0 * (c / 25) as f64,
    ];
    let period = 3.0 + (c / 4 % 5) as f64;
    let phase = unit(&mut s) * std::f64::consts::TAU;
    let bright = (unit(&mut s) - 0.5) * 24.0;
    let mut img = vec![0u8; 3072];
    for y in 0..32 {
        for x in 0..32 {
            let t = match c % 4 {
                0 => y as f64,
                1 => x as f64,
                2 => (x + y) as f64 / std::f64::consts::SQRT_2,
                _ => (x as f64 - y as f64) / std::f64::consts::SQRT_2,
            };
            let wave = 35.0 * (std::f64::consts::TAU * t / period + phase).cos();
            for (ch, b) in base.iter().enumerate() {
                let noise = (unit(&mut s) - 0.5) * 16.0;
                img[ch * 1024 + y * 32 + x] =
                    (b + wave + bright + noise).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    img
}

/// Writes a CIFAR-100 binary release in miniature under `root/cifar-100-binary/` (the folder the official
/// archive unpacks to): `train.bin` and `test.bin` of 3074-byte records (coarse label = fine / 5, fine
/// label, 3072 pixel bytes) in a shuffled class order, and the two label-name files. The training file is
/// long-tailed already: class i holds its long-tailed count plus 1–2 images more (capped at n_max), which
/// the pipeline's rule must drop; the test file holds `C100_TEST_PER_CLASS` images of every class.
/// Returns the images per class written to train.bin.
fn write_cifar100_fixture(root: &Path) -> Vec<usize> {
    let dir = root.join("cifar-100-binary");
    std::fs::create_dir_all(&dir).unwrap();
    let lt = method_lt_counts(C100_N_MAX, 100, C100_IF);
    let in_file: Vec<usize> = lt
        .iter()
        .enumerate()
        .map(|(c, &n)| {
            if c == 0 {
                n
            } else {
                (n + 1 + c % 2).min(C100_N_MAX)
            }
        })
        .collect();
    for (file, per_class, salt) in [
        ("train.bin", in_file.clone(), 0x7472_u64),
        ("test.bin", vec![C100_TEST_PER_CLASS; 100], 0x7465_u64),
    ] {
        let mut order: Vec<usize> = per_class
            .iter()
            .enumerate()
            .flat_map(|(c, &n)| std::iter::repeat_n(c, n))
            .collect();
        let mut s = 0xC1FA_0100 ^ salt;
        for i in (1..order.len()).rev() {
            let j = (splitmix(&mut s) % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        // The j-th record of class c in file order is image j of class c.
        let mut seen = [0u64; 100];
        let mut bytes = Vec::with_capacity(order.len() * 3074);
        for &c in &order {
            bytes.push((c / 5) as u8);
            bytes.push(c as u8);
            bytes.extend(c100_image(c, (salt << 32) ^ ((c as u64) << 16) ^ seen[c]));
            seen[c] += 1;
        }
        std::fs::write(dir.join(file), bytes).unwrap();
    }
    let fine: Vec<String> = (0..100).map(|c| format!("fine{c:02}")).collect();
    let coarse: Vec<String> = (0..20).map(|c| format!("coarse{c:02}")).collect();
    std::fs::write(dir.join("fine_label_names.txt"), fine.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("coarse_label_names.txt"), coarse.join("\n") + "\n").unwrap();
    in_file
}

/// `ipdpp run` with the paper preset on a CIFAR-100-LT fixture (100 classes, 591 training images from 20
/// down to 1 per class, 2 test images per class) with ResNet-32, one epoch per stage (stage-1 batch 301,
/// 43 groups of m + 1 = 7: one batch per epoch; no stage-1 warm-up, since the official per-iteration
/// warm-up starts at lr 0 and would make that one step a no-op). ~35 s on 2 idle cores. Checks that config.json holds METHOD.md's CIFAR-100 preset
/// (every field not overridden, against values written out from METHOD.md; the full preset with no
/// overrides too), results.json's 100 per-class accuracies, 100 × 100 confusion matrices, CIFAR-100's
/// many/medium/few rule (> 100 / 20–100 / < 20), and the report of the IP-DPP selection (k = 10 · N_min,
/// exact k-DPP over the IP kernel fed with the probe's p(y|x)).
#[test]
fn run_on_a_cifar100_lt_fixture_with_the_paper_preset_and_resnet32() {
    let t_all = Instant::now();
    let runs = tmp_runs("c100");
    let rs = runs.to_str().unwrap();
    let data_root = runs.join("data");
    let in_file = write_cifar100_fixture(&data_root);
    let data = data_root.to_str().unwrap();
    let lt = method_lt_counts(C100_N_MAX, 100, C100_IF);
    let n_train: usize = lt.iter().sum();
    assert_eq!(n_train, 591);
    assert!(in_file.iter().sum::<usize>() > n_train);
    // The images carry class signal: nearest class mean on raw pixels (the records as the crate reads
    // them, fine labels) classifies the test images far above chance (1 %).
    let (tr, te) = (
        ipdpp::data::load(&data_root, ipdpp::data::Split::Train).unwrap(),
        ipdpp::data::load(&data_root, ipdpp::data::Split::Test).unwrap(),
    );
    assert_eq!(tr.class_counts(), in_file);
    let mut means = vec![vec![0f64; 3072]; 100];
    for i in 0..tr.len() {
        let c = tr.labels[i] as usize;
        for (m, &v) in means[c].iter_mut().zip(tr.image(i)) {
            *m += v as f64 / in_file[c] as f64;
        }
    }
    let ncm_right = (0..te.len())
        .filter(|&i| {
            let d = |c: usize| -> f64 {
                means[c]
                    .iter()
                    .zip(te.image(i))
                    .map(|(m, &v)| (m - v as f64).powi(2))
                    .sum()
            };
            (0..100).min_by(|&a, &b| d(a).total_cmp(&d(b))) == Some(te.labels[i] as usize)
        })
        .count();
    let ncm = 100.0 * ncm_right as f64 / te.len() as f64;
    assert!(ncm > 50.0, "nearest class mean on the fixture: {ncm} %");

    // METHOD.md's CIFAR-100-LT setup, written out (not read from the crate): ResNet-34, projector
    // 512-2048-128; stage 1 1000 epochs, batch 512 → 511 (whole groups of m + 1 = 7), lr 1e-3·512/256,
    // AdamW β (0.9, 0.95), wd 0.05, 20 warm-up epochs, BNS paper form, m = 6, τ = 0.5, strength 2; probe
    // 100 epochs, batch 64, lr 1e-3, wd 0.05, warm-up 5 (CIFAR-100), ≤ 50 images per class, strength 1;
    // stage 2 100 epochs, batch 64, lr 2.5e-4, wd 0.05, warm-up 5, ip kernel, exact k-DPP, k = min(N_c,
    // 10 · N_min), re-selection every 10 epochs, fine-tune all, strength 1; crop scale 0.08–1, flip 0.5;
    // imbalance 100.
    let method = serde_json::json!({
        "preset": "paper",
        "arch": "ResNet34",
        "data": {"imbalance": 100.0, "many_above": null, "few_below": null},
        "stage1": {"epochs": 1000, "batch": 511, "lr": 2e-3, "weight_decay": 0.05, "beta1": 0.9,
                   "beta2": 0.95, "warmup_epochs": 20.0, "loss": "paper", "m": 6, "tau": 0.5,
                   "strength": 2.0, "proj_out": 128},
        "probe": {"epochs": 100, "batch": 64, "lr": 1e-3, "weight_decay": 0.05, "warmup_epochs": 5.0,
                  "per_class": 50, "strength": 1.0},
        "stage2": {"epochs": 100, "batch": 64, "lr": 2.5e-4, "weight_decay": 0.05, "warmup_epochs": 5.0,
                   "kernel": "ip", "selector": "kdpp", "k": null, "k_factor": 10, "reselect_every": 10,
                   "finetune": "all", "strength": 1.0},
        "aug": {"crop_min": 0.08, "p_flip": 0.5},
    });
    // Every leaf of `want` equals the same path in `got` (numbers compared as f64).
    fn check(got: &Value, want: &Value, path: &str, errs: &mut Vec<String>) {
        match want {
            Value::Object(m) => {
                for (k, w) in m {
                    check(&got[k], w, &format!("{path}.{k}"), errs);
                }
            }
            Value::Number(w) => {
                let (w, g) = (w.as_f64().unwrap(), got.as_f64());
                if g.is_none_or(|g| (g - w).abs() > 1e-12 * w.abs().max(1.0)) {
                    errs.push(format!("{path}: {got} (METHOD.md: {w})"));
                }
            }
            _ if got != want => errs.push(format!("{path}: {got} (METHOD.md: {want})")),
            _ => {}
        }
    }
    // The preset `ipdpp run --data <fixture>` builds with no overrides is METHOD.md's CIFAR-100 setup.
    let preset = ipdpp::train::cli::build_config(
        &ipdpp::train::cli::PipelineArgs {
            data: Some(data_root.clone()),
            ..Default::default()
        },
        false,
        None,
    )
    .unwrap();
    let preset = serde_json::to_value(&preset).unwrap();
    let mut errs = Vec::new();
    check(&preset, &method, "preset", &mut errs);
    assert!(
        errs.is_empty(),
        "the CIFAR-100 paper preset deviates from METHOD.md:\n{}",
        errs.join("\n")
    );
    assert_eq!(preset["name"], "cifar100-paper-if100");

    let overrides: &[(&str, &str)] = &[
        ("--arch", "resnet32"),
        ("--imbalance", "20"),
        ("--epochs1", "1"),
        ("--probe-epochs", "1"),
        ("--epochs2", "1"),
        ("--batch1", "301"),
        ("--warmup1", "0"),
    ];
    let mut args = vec![
        "--device", "cpu", "run", "--data", data, "--preset", "paper",
    ];
    args.extend(["--runs-dir", rs, "--name", "c100"]);
    for (f, v) in overrides {
        args.extend([*f, *v]);
    }
    let t = Instant::now();
    let (code, out, err) = ipdpp(&args);
    let run_secs = t.elapsed().as_secs_f64();
    println!("{out}\n{err}\nrun took {run_secs:.1} s");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("official CIFAR-100 binary (fine labels)")
            && err.contains("591 training / 200 test"),
        "{err}"
    );
    let dir = runs.join("c100");

    // config.json: the preset with exactly the overrides (the probe and stage-2 warm-ups capped at their
    // one-epoch schedules).
    let cfg = json(&dir.join("config.json"));
    let mut want = method.clone();
    want["arch"] = "ResNet32".into();
    want["data"]["imbalance"] = 20.0.into();
    for (stage, batch, warmup) in [
        ("stage1", Some(301), 0.0),
        ("probe", None, 1.0),
        ("stage2", None, 1.0),
    ] {
        want[stage]["epochs"] = 1.into();
        want[stage]["warmup_epochs"] = warmup.into();
        if let Some(b) = batch {
            want[stage]["batch"] = b.into();
        }
    }
    let mut errs = Vec::new();
    check(&cfg, &want, "config.json", &mut errs);
    assert!(errs.is_empty(), "config.json:\n{}", errs.join("\n"));
    // Nothing else differs from the preset (the run name aside).
    let mut a = cfg.clone();
    let mut b = preset.clone();
    for v in [&mut a, &mut b] {
        for k in ["name", "arch"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v["data"].as_object_mut().unwrap().remove("imbalance");
        for s in ["stage1", "probe", "stage2"] {
            for k in ["epochs", "warmup_epochs", "batch"] {
                v[s].as_object_mut().unwrap().remove(k);
            }
        }
    }
    assert_eq!(
        a, b,
        "config.json differs from the preset beyond the overrides"
    );
    assert_eq!(cfg["data"]["source"]["kind"], "dir");

    // results.json.
    let r = json(&dir.join("results.json"));
    assert_eq!(r["stage"], "done");
    assert_eq!(r["arch"], "resnet32");
    assert_eq!(r["preset"], "paper");
    assert_eq!(
        r["epochs"],
        serde_json::json!({"stage1": 1, "probe": 1, "stage2": 1})
    );
    let counts: Vec<usize> = serde_json::from_value(r["train_counts"].clone()).unwrap();
    assert_eq!(
        counts, lt,
        "the long-tailed subset of the fine labels (IF 20, n_max 20)"
    );
    // CIFAR-100's rule (METHOD.md): many > 100, medium 20–100, few < 20.
    let shot = |n: usize| {
        if n > 100 {
            "many"
        } else if n >= 20 {
            "medium"
        } else {
            "few"
        }
    };
    let group_of: Vec<&str> = counts.iter().map(|&n| shot(n)).collect();
    let n_group = |g: &str| group_of.iter().filter(|&&x| x == g).count();
    assert_eq!(
        (n_group("many"), n_group("medium"), n_group("few")),
        (0, 1, 99)
    );
    let mut accuracies = Vec::new();
    for which in ["probe", "final"] {
        let a = &r[which];
        let per_class: Vec<f64> = serde_json::from_value(a["per_class"].clone()).unwrap();
        let conf: Vec<Vec<u64>> = serde_json::from_value(a["confusion"].clone()).unwrap();
        assert_eq!(per_class.len(), 100, "{which}");
        assert_eq!(conf.len(), 100, "{which}");
        assert!(
            conf.iter().all(|row| row.len() == 100),
            "{which}: confusion is not 100 × 100"
        );
        let rows: Vec<u64> = conf.iter().map(|row| row.iter().sum()).collect();
        assert!(
            rows.iter().all(|&n| n == C100_TEST_PER_CLASS as u64),
            "{which}: {rows:?}"
        );
        assert_eq!(
            a["test_counts"],
            serde_json::json!(vec![C100_TEST_PER_CLASS; 100])
        );
        assert_eq!(a["train_counts"], r["train_counts"], "{which}");
        let trace: u64 = (0..100).map(|i| conf[i][i]).sum();
        let overall = a["overall"].as_f64().unwrap();
        assert!(
            (overall - 100.0 * trace as f64 / (100 * C100_TEST_PER_CLASS) as f64).abs() < 1e-9,
            "{which}: {overall}"
        );
        for i in 0..100 {
            let want = 100.0 * conf[i][i] as f64 / C100_TEST_PER_CLASS as f64;
            assert!((per_class[i] - want).abs() < 1e-9, "{which}: class {i}");
        }
        let split = &a["split"];
        assert_eq!(
            (split["many_above"].as_u64(), split["few_below"].as_u64()),
            (Some(100), Some(20)),
            "{which}: CIFAR-100's thresholds"
        );
        assert_eq!(
            (
                split["many_classes"].as_u64(),
                split["medium_classes"].as_u64(),
                split["few_classes"].as_u64()
            ),
            (Some(0), Some(1), Some(99)),
            "{which}"
        );
        // Group accuracy: the mean per-class accuracy of the group's classes; none for an empty group.
        for g in ["many", "medium", "few"] {
            let v: Vec<f64> = (0..100)
                .filter(|&i| group_of[i] == g)
                .map(|i| per_class[i])
                .collect();
            if v.is_empty() {
                assert!(a[g].is_null(), "{which}.{g}: {}", a[g]);
            } else {
                let mean = v.iter().sum::<f64>() / v.len() as f64;
                assert!((a[g].as_f64().unwrap() - mean).abs() < 1e-9, "{which}.{g}");
            }
        }
        let predicted = (0..100)
            .filter(|&j| conf.iter().any(|row| row[j] > 0))
            .count();
        accuracies.push(format!(
            "{which} {overall:.2} % ({predicted} classes predicted)"
        ));
    }
    // The selections: one per re-selection epoch (stage-2 epoch 0 only, every 10 epochs over 1 epoch),
    // the first from the probe's p(y|x).
    let m = metrics(&dir);
    let select_events: Vec<&Value> = m.iter().filter(|l| l["event"] == "select").collect();
    let sel = r["selections"].as_array().unwrap();
    assert_eq!(select_events.len(), 1);
    assert_eq!(
        sel.len(),
        select_events.len(),
        "a report for every selection"
    );
    let n_min = *counts.iter().min().unwrap();
    let k = 10 * n_min;
    let kept: usize = counts.iter().map(|&n| n.min(k)).sum();
    assert_eq!((k, kept), (10, 496));
    let probe_p: Vec<f64> = serde_json::from_value(
        json(&dir.join("checkpoints/stage2-end/state.json"))["progress"]["probe"]["p"].clone(),
    )
    .unwrap();
    assert_eq!(probe_p.len(), n_train);
    for (s, ev) in sel.iter().zip(&select_events) {
        assert_eq!(
            (s["epoch"].as_u64(), ev["epoch"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!(
            (s["source"].as_str(), ev["source"].as_str()),
            (Some("probe"), Some("probe"))
        );
        assert_eq!(
            (s["kept"].as_u64(), ev["kept"].as_u64()),
            (Some(kept as u64), Some(kept as u64))
        );
        assert_eq!(s["total"].as_u64(), Some(n_train as u64));
        let rep = &s["report"];
        assert_eq!(
            (rep["kernel"].as_str(), rep["selector"].as_str()),
            (Some("ip"), Some("kdpp"))
        );
        assert_eq!(rep["k"].as_u64(), Some(k as u64));
        let classes = rep["classes"].as_array().unwrap();
        assert_eq!(classes.len(), 100, "a report line per class");
        // The training set lists the classes in order, so class c's p are one contiguous block.
        let mut start = 0;
        for (c, cl) in classes.iter().enumerate() {
            let n = counts[c];
            let pc = &probe_p[start..start + n];
            start += n;
            assert_eq!(cl["class"].as_u64(), Some(c as u64));
            assert_eq!(cl["n"].as_u64(), Some(n as u64), "class {c}");
            assert_eq!(cl["k"].as_u64(), Some(n.min(k) as u64), "class {c}");
            assert_eq!(cl["selected"].as_f64(), Some(n.min(k) as f64), "class {c}");
            let kept_p = cl["mean_p_kept"].as_f64().unwrap();
            let mean_p = pc.iter().sum::<f64>() / n as f64;
            if n <= k {
                assert!(
                    cl["mean_p_dropped"].is_null() && cl["rank"].is_null(),
                    "class {c}: {cl}"
                );
                assert!(
                    (kept_p - mean_p).abs() < 1e-9,
                    "class {c}: {kept_p} vs {mean_p}"
                );
            } else {
                // The IP kernel is full rank (p clamped below 1), decomposed in O(N²).
                assert_eq!(cl["rank"].as_u64(), Some(n as u64), "class {c}: {cl}");
                assert_eq!(cl["solver"], "secular", "class {c}");
                let dropped = cl["mean_p_dropped"].as_f64().unwrap();
                let mix = (k as f64 * kept_p + (n - k) as f64 * dropped) / n as f64;
                assert!(
                    (mix - mean_p).abs() < 1e-9,
                    "class {c}: kept/dropped p do not come from the probe"
                );
            }
        }
        assert_eq!(start, n_train);
    }
    // metrics.jsonl: one line per epoch and stage with the images each covered.
    let line = |stage: &str| -> &Value {
        let v: Vec<&Value> = m
            .iter()
            .filter(|l| l["stage"] == stage && l.get("event").is_none())
            .collect();
        assert_eq!(v.len(), 1, "{stage}: {v:?}");
        v[0]
    };
    assert_eq!(
        line("stage1")["views"],
        2 * 301,
        "one batch of 301 images, two views each"
    );
    assert_eq!(line("stage1")["batches"], 1);
    // The learning rates the last step of each stage used: METHOD.md's base rates (stage 1 without
    // warm-up: the cosine's start; probe and stage 2 warm up linearly over their one epoch of 10 and 8
    // steps).
    let lr = |s: &str| line(s)["lr"].as_f64().unwrap();
    assert!((lr("stage1") - 2e-3).abs() < 1e-15, "{}", lr("stage1"));
    assert!(
        (lr("probe") - 1e-3 * 9.0 / 10.0).abs() < 1e-15,
        "{}",
        lr("probe")
    );
    assert!(
        (lr("stage2") - 2.5e-4 * 7.0 / 8.0).abs() < 1e-15,
        "{}",
        lr("stage2")
    );
    assert_eq!(
        line("probe")["images"],
        counts.iter().map(|&n| n.min(50)).sum::<usize>()
    );
    assert_eq!(line("stage2")["images"], kept);
    for s in ["stage1", "probe", "stage2"] {
        assert!(line(s)["loss"].as_f64().unwrap().is_finite(), "{s}");
    }
    assert_eq!(m.iter().filter(|l| l["event"] == "eval").count(), 2);
    println!(
        "CIFAR-100-LT fixture: nearest class mean {ncm:.1} %, {} (chance 1 %); run {run_secs:.1} s, test {:.1} s",
        accuracies.join(", "),
        t_all.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&runs);
}

/// The step losses a training loop leaves for the pipeline to settle (`StepLosses`): on the CPU as numbers,
/// on the GPU as one float each that is copied into a ring and read back in one copy. Every step comes back
/// once, in step order, with its own loss (a NaN too), the ring refuses a step past its size until it is
/// settled, and a second round reuses its slots.
#[test]
fn cuda_and_cpu_step_losses_come_back_in_step_order() {
    use ipdpp::device::Device;
    use ipdpp::train::{StepLoss, StepLosses, LOSS_RING};
    let mut devs = vec![Device::Cpu];
    if let Some(d) = crate::common::cuda_or_skip("cuda_and_cpu_step_losses_come_back_in_step_order")
    {
        devs.push(d);
    }
    for dev in &devs {
        let mut sl = StepLosses::default();
        for round in 0..2 {
            let value = |i: usize| {
                if i == 5 && round == 1 {
                    f32::NAN
                } else {
                    (round * 100 + i) as f32 * 0.25
                }
            };
            // On the GPU each step's loss sits in its own buffer, as a step's kernels leave it.
            let bufs: Vec<_> = match dev {
                Device::Cuda(d) => (0..LOSS_RING)
                    .map(|i| Some(d.upload(&[value(i)]).unwrap()))
                    .collect(),
                Device::Cpu => (0..LOSS_RING).map(|_| None).collect(),
            };
            for (i, b) in bufs.iter().enumerate() {
                let loss = match b {
                    Some(b) => StepLoss::Device(b),
                    None => StepLoss::Host(value(i) as f64),
                };
                sl.record(dev, 10 * round + i, i + 1, 0.5, loss).unwrap();
            }
            assert_eq!(sl.len(), LOSS_RING);
            assert!(sl.record(dev, 999, 1, 0.5, StepLoss::Host(1.0)).is_err());
            let got = sl.settle(dev).unwrap();
            assert!(sl.is_empty());
            assert_eq!(got.len(), LOSS_RING);
            for (i, (s, loss)) in got.iter().enumerate() {
                assert_eq!(
                    (s.bi, s.images),
                    (10 * round + i, i + 1),
                    "{} round {round}",
                    dev.name()
                );
                let want = value(i) as f64;
                assert!(
                    loss.to_bits() == want.to_bits() || (loss.is_nan() && want.is_nan()),
                    "{} round {round} step {i}: {loss} for {want}",
                    dev.name()
                );
            }
        }
    }
}
