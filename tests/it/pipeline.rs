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
    let o = Command::new(bin())
        .args(args)
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
    let (code, out, err) = ipdpp(&tiny_args(rs, "t"));
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
/// augmentation (crop scale 0.08–1, flip p 0.5) and schedules long enough to learn, ~25 s on 2 cores:
/// stage 1 8 epochs of batch 14 (2 groups), probe 20 epochs, stage 2 12 epochs. On the CPU the run is
/// deterministic; it measured probe 40.8 %, final 57.5 % (many 97.5, medium 75.0, few 0.0).
#[test]
fn tiny_run_beats_chance_clearly() {
    let runs = tmp_runs("chance");
    let rs = runs.to_str().unwrap();
    let mut args = with_arg(tiny_args(rs, "c"), "--crop-min", None);
    for (flag, v) in [
        ("--batch1", "14"),
        ("--epochs1", "8"),
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
