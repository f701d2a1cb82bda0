//! What safe code must never reach, whatever model bytes or arena it passes: a crash or
//! undefined behaviour. Every arena size up to past the need is an `Ok` or an error; each
//! crafted hostile model is rejected by `Model::from_buffer`. The models are the golden
//! fixtures (TFLM_GOLDEN_DIR, as in `golden.rs`); without them the tests say so and pass,
//! unless TFLM_REQUIRE_GOLDEN is set.
use std::path::PathBuf;

use tflm::arena::{heap_arena, required_arena_size};
use tflm::{AlignedBytes, Error, MicroInterpreter, Model, OpResolver};

#[path = "support/crafted.rs"]
mod crafted;

fn models() -> Vec<(String, AlignedBytes)> {
    let dir = std::env::var_os("TFLM_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden"))
        .join("models");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        assert!(
            std::env::var_os("TFLM_REQUIRE_GOLDEN").is_none(),
            "golden models not found at {}",
            dir.display()
        );
        eprintln!("skipped: golden models not found at {} (set TFLM_GOLDEN_DIR)", dir.display());
        return Vec::new();
    };
    let mut out: Vec<(String, AlignedBytes)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tflite"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p.file_stem().unwrap().to_string_lossy().into_owned(), AlignedBytes::from_slice(&bytes))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every arena size from 0 to 1 KiB past the need, in 16-byte steps, at an aligned and a
/// misaligned start: `new` returns, and `ArenaTooSmall` says more than it had.
#[test]
fn every_arena_size_is_ok_or_an_error() {
    for (name, bytes) in models() {
        let model = Model::from_buffer(&bytes).unwrap();
        let resolver = OpResolver::for_model(&model).unwrap();
        let need = required_arena_size(&model, &resolver, 4 << 20).unwrap();
        let (mut ok, mut small) = (0, 0);
        for shift in [0usize, 3] {
            let mut storage = heap_arena(need + 1024 + 32);
            let start = (16 - storage.as_ptr() as usize % 16) % 16 + shift;
            for size in (0..=need + 1024).step_by(16) {
                let arena = &mut storage[start..start + size];
                match MicroInterpreter::new(&model, &resolver, arena) {
                    Ok(mut interpreter) => {
                        ok += 1;
                        interpreter.invoke().unwrap();
                    }
                    Err(Error::ArenaTooSmall { available, needed }) => {
                        assert_eq!(available, size);
                        assert!(needed > available, "{name}: {needed} <= {available}");
                        small += 1;
                    }
                    Err(other) => panic!("{name}: arena of {size}: {other}"),
                }
            }
        }
        eprintln!("{name}: needs {need} bytes; {ok} sizes fit, {small} too small");
        assert!(ok > 0 && small > 0);
    }
}

/// Each crafted model differs from an accepted one in one field only, and is rejected.
#[test]
fn crafted_models_are_rejected() {
    type Patch = fn(&mut [u8]) -> Option<()>;
    let patches: [(&str, Patch); 3] = [
        ("constant input", crafted::constant_input),
        ("constant operator output", crafted::constant_output),
        ("2^30-element tensor", crafted::huge_tensor),
    ];
    let mut crafted_any = [false; 3];
    for (name, bytes) in models() {
        assert!(Model::from_buffer(&bytes).is_ok(), "{name} itself must load");
        for (i, (what, patch)) in patches.iter().enumerate() {
            let mut copy = bytes.to_vec();
            if patch(&mut copy).is_none() {
                continue;
            }
            crafted_any[i] = true;
            let copy = AlignedBytes::from_slice(&copy);
            assert_eq!(
                Model::from_buffer(&copy).err(),
                Some(Error::InvalidModel),
                "{name} with a {what}"
            );
        }
    }
    let all = models();
    if !all.is_empty() {
        // The huge-tensor patch needs a 4-byte activation, which the float models have; a
        // reference from a pin before 2023 holds only the int8 hello_world.
        let has_float = all.iter().any(|(name, _)| name.contains("float"));
        let wanted = [true, true, has_float];
        let applied = [crafted_any[0], crafted_any[1], crafted_any[2] && has_float];
        assert_eq!(applied, wanted, "every patch applies to some golden model");
    }
}

/// The resolver built from a model has what it needs, and a resolver missing several
/// operators names all of them.
#[test]
fn missing_operators_are_all_named() {
    for (name, bytes) in models() {
        let model = Model::from_buffer(&bytes).unwrap();
        let used: Vec<_> = model.operators().collect();
        assert!(!used.is_empty(), "{name}");
        let mut arena = heap_arena(1 << 20);
        match MicroInterpreter::new(&model, &OpResolver::new(), &mut arena) {
            Err(Error::MissingOps(missing)) => {
                assert_eq!(missing.len(), used.len(), "{name}: {missing}")
            }
            Err(other) => panic!("{name}: {other}"),
            Ok(_) => panic!("{name}: built without operators"),
        }
        let resolver = OpResolver::for_model(&model).unwrap();
        assert_eq!(resolver.ops().count(), used.len());
    }
}

/// An interpreter can move to another thread (it is Send).
#[test]
fn interpreter_moves_between_threads() {
    fn is_send<T: Send>(_: &T) {}
    for (_, bytes) in models().into_iter().take(1) {
        let model = Model::from_buffer(&bytes).unwrap();
        let resolver = OpResolver::for_model(&model).unwrap();
        let mut arena = heap_arena(1 << 20);
        let mut interpreter = MicroInterpreter::new(&model, &resolver, &mut arena).unwrap();
        is_send(&interpreter);
        std::thread::scope(|s| {
            s.spawn(move || interpreter.invoke().unwrap());
        });
    }
}

/// Model inputs and outputs carry one scale (per-tensor quantization): `per_channel` is
/// `None` for them, and `quantization` has the scale.
#[test]
fn inputs_are_per_tensor_quantized() {
    for (name, bytes) in models().into_iter().filter(|(n, _)| n == "hello_world_int8") {
        let model = Model::from_buffer(&bytes).unwrap();
        let resolver = OpResolver::for_model(&model).unwrap();
        let mut arena = heap_arena(1 << 16);
        let interpreter = MicroInterpreter::new(&model, &resolver, &mut arena).unwrap();
        let input = interpreter.input_tensor(0).unwrap();
        assert!(input.per_channel().is_none(), "{name}");
        assert!(input.quantization().scale > 0.0, "{name}");
    }
}
