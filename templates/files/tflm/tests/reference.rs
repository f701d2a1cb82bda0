//! Every reference case `bindbot reference` made from the pinned upstream tree (its
//! example models on their test data, upstream's per-op integration tests with their golden
//! CSVs, every other model upstream ships for MCUs) run through the crate on the host.
//!
//! The cases are listed in `cases.tsv` in the folder TFLM_GOLDEN_DIR names (see
//! bindbot's `bindbot/reference/cases.py` for the format). Integers must be within the
//! case's tolerance (0: byte-identical), float32 outputs too, as numbers. Without a
//! `cases.tsv` the test says so and passes, unless TFLM_REQUIRE_REFERENCE is set.
//! TFLM_REFERENCE_SUMMARY names a file that gets one `name<TAB>ok|FAIL<TAB>detail` line
//! per case (bindbot's verify counts them).
use std::path::{Path, PathBuf};

use tflm::{MicroInterpreter, Model, OpResolver};

/// Larger than any model upstream keeps for MCUs needs (person_detect: 85 KiB).
const ARENA_BYTES: usize = 4 << 20;

struct Item {
    dtype: String,
    path: PathBuf,
}

struct Case {
    name: String,
    model: PathBuf,
    tolerance: f64,
    inputs: Vec<Item>,
    outputs: Vec<Item>,
}

fn items(dir: &Path, field: &str) -> Vec<Item> {
    field
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (dtype, path) = item.split_once(':').expect("dtype:path");
            Item {
                dtype: dtype.to_string(),
                path: dir.join(path),
            }
        })
        .collect()
}

fn cases(dir: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(dir.join("cases.tsv")).expect("cases.tsv");
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 6, "cases.tsv line: {line}");
            Case {
                name: fields[0].to_string(),
                model: dir.join(fields[1]),
                tolerance: fields[2].parse().expect("tolerance"),
                inputs: items(dir, fields[3]),
                outputs: items(dir, fields[4]),
            }
        })
        .collect()
}

/// Element size and value of one element, by the manifest's dtype names.
fn element(dtype: &str, bytes: &[u8], index: usize) -> f64 {
    let size = element_size(dtype);
    let b = &bytes[index * size..(index + 1) * size];
    match dtype {
        "int8" => f64::from(b[0] as i8),
        "uint8" | "bool" => f64::from(b[0]),
        "int16" => f64::from(i16::from_le_bytes([b[0], b[1]])),
        "uint16" => f64::from(u16::from_le_bytes([b[0], b[1]])),
        "int32" => f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "uint32" => f64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "float32" => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "int64" => i64::from_le_bytes(b.try_into().unwrap()) as f64,
        other => panic!("unknown dtype {other}"),
    }
}

fn element_size(dtype: &str) -> usize {
    match dtype {
        "int8" | "uint8" | "bool" => 1,
        "int16" | "uint16" => 2,
        "int32" | "uint32" | "float32" => 4,
        "int64" => 8,
        other => panic!("unknown dtype {other}"),
    }
}

/// None when `actual` is within `tolerance` of `expected` everywhere, else the first
/// difference.
fn first_difference(dtype: &str, expected: &[u8], actual: &[u8], tolerance: f64) -> Option<String> {
    if expected.len() != actual.len() {
        return Some(format!("{} bytes where {} were expected", actual.len(), expected.len()));
    }
    if tolerance == 0.0 && dtype != "float32" {
        return (expected != actual).then(|| {
            let at = expected.iter().zip(actual).position(|(e, a)| e != a).unwrap();
            let i = at / element_size(dtype);
            format!(
                "element {i}: expected {}, got {}",
                element(dtype, expected, i),
                element(dtype, actual, i)
            )
        });
    }
    (0..expected.len() / element_size(dtype)).find_map(|i| {
        let (e, a) = (element(dtype, expected, i), element(dtype, actual, i));
        let same = (e.is_nan() && a.is_nan()) || (a - e).abs() <= tolerance;
        (!same).then(|| format!("element {i}: expected {e}, got {a}"))
    })
}

/// Runs one case: every input file step by step through one interpreter.
fn run(case: &Case) -> Result<(), String> {
    let bytes = std::fs::read(&case.model).map_err(|e| format!("{}: {e}", case.model.display()))?;
    let aligned = tflm::AlignedBytes::from_slice(&bytes);
    let model = Model::from_buffer(&aligned).map_err(|e| format!("model: {e}"))?;
    let resolver = OpResolver::for_model(&model).map_err(|e| format!("resolver: {e}"))?;
    let mut arena = vec![0u8; ARENA_BYTES];
    let mut interpreter =
        MicroInterpreter::new(&model, &resolver, &mut arena).map_err(|e| format!("new: {e}"))?;
    if interpreter.inputs_len() != case.inputs.len() || interpreter.outputs_len() != case.outputs.len() {
        return Err(format!(
            "the model has {} inputs and {} outputs, the case {} and {}",
            interpreter.inputs_len(),
            interpreter.outputs_len(),
            case.inputs.len(),
            case.outputs.len()
        ));
    }
    let inputs: Vec<Vec<u8>> = case
        .inputs
        .iter()
        .map(|i| std::fs::read(&i.path).map_err(|e| format!("{}: {e}", i.path.display())))
        .collect::<Result<_, _>>()?;
    let first = interpreter.input_bytes(0).map_err(|e| format!("input 0: {e}"))?.len();
    if first == 0 || inputs[0].len() % first != 0 {
        return Err(format!("input 0 holds {} bytes, not steps of {first}", inputs[0].len()));
    }
    let steps = inputs[0].len() / first;
    let mut outputs: Vec<Vec<u8>> = vec![Vec::new(); case.outputs.len()];
    for step in 0..steps {
        for (k, data) in inputs.iter().enumerate() {
            let tensor = interpreter.input_bytes(k).map_err(|e| format!("input {k}: {e}"))?;
            let n = tensor.len();
            let chunk = data
                .get(step * n..(step + 1) * n)
                .ok_or_else(|| format!("input {k} has fewer than {steps} steps"))?;
            tensor.copy_from_slice(chunk);
        }
        interpreter.invoke().map_err(|e| format!("invoke (step {step}): {e}"))?;
        for (k, out) in outputs.iter_mut().enumerate() {
            out.extend_from_slice(interpreter.output_bytes(k).map_err(|e| format!("output {k}: {e}"))?);
        }
    }
    for (k, (item, actual)) in case.outputs.iter().zip(&outputs).enumerate() {
        let expected = std::fs::read(&item.path).map_err(|e| format!("{}: {e}", item.path.display()))?;
        if let Some(diff) = first_difference(&item.dtype, &expected, actual, case.tolerance) {
            return Err(format!("output {k}, {diff}"));
        }
    }
    Ok(())
}

#[test]
fn every_reference_case_matches() {
    let dir = std::env::var_os("TFLM_GOLDEN_DIR").map(PathBuf::from);
    let Some(dir) = dir.filter(|d| d.join("cases.tsv").is_file()) else {
        assert!(
            std::env::var_os("TFLM_REQUIRE_REFERENCE").is_none(),
            "no cases.tsv in TFLM_GOLDEN_DIR (make one with `bindbot reference`)"
        );
        eprintln!("skipped: no cases.tsv in TFLM_GOLDEN_DIR (make one with `bindbot reference`)");
        return;
    };
    let all = cases(&dir);
    let mut summary = String::new();
    let mut failures = Vec::new();
    for case in &all {
        let result = run(case);
        let (mark, detail) = match &result {
            Ok(()) => ("ok", String::new()),
            Err(why) => ("FAIL", why.clone()),
        };
        summary += &format!("{}\t{mark}\t{detail}\n", case.name);
        if let Err(why) = result {
            failures.push(format!("{}: {why}", case.name));
        }
    }
    if let Some(path) = std::env::var_os("TFLM_REFERENCE_SUMMARY") {
        std::fs::write(path, &summary).expect("TFLM_REFERENCE_SUMMARY");
    }
    eprintln!("reference: {} of {} cases match", all.len() - failures.len(), all.len());
    assert!(
        failures.is_empty(),
        "{} of {} reference cases differ; first: {}",
        failures.len(),
        all.len(),
        failures.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
    );
}
