//! The checks that keep TFLM's kernels in bounds where the kernels trust their operands:
//! model checks in `Model::from_buffer` (types and shapes), and checks in front of a
//! kernel's Invoke where the hazard is in tensor values (integer division). Each case was
//! a crash (out-of-bounds read, SIGFPE) before its check; the models are built here
//! (tests/support/models.rs).
use tflm::{AlignedBytes, BuiltinOperator, Error, MicroInterpreter, Model, Op, OpCode, OpResolver};

mod support;
use support::models;

/// Whether this TFLM has a kernel for the builtin (the synthetic upstream of CI has few):
/// a model using an operator TFLM does not know is refused before any check here.
fn has(code: i32) -> bool {
    let known = Op::for_code(OpCode::Builtin(BuiltinOperator(code))).is_some();
    if !known {
        eprintln!("skipped: this TFLM has no builtin {code}");
    }
    known
}

fn load(bytes: &[u8]) -> Result<(), Error> {
    Model::from_buffer(&AlignedBytes::from_slice(bytes)).map(|_| ())
}

/// Runs a two-input int32 model once, or says why it cannot on this TFLM.
fn run_i32(bytes: &[u8], a: &[i32], b: &[i32]) -> Option<Result<Vec<i32>, Error>> {
    let bytes = AlignedBytes::from_slice(bytes);
    let model = Model::from_buffer(&bytes).unwrap();
    let resolver = match OpResolver::for_model(&model) {
        Ok(resolver) => resolver,
        Err(error) => {
            eprintln!("skipped: {error}");
            return None;
        }
    };
    let mut arena = vec![0u8; 16 * 1024];
    let mut interpreter = MicroInterpreter::new(&model, &resolver, &mut arena).unwrap();
    interpreter.input::<i32>(0).unwrap().copy_from_slice(a);
    interpreter.input::<i32>(1).unwrap().copy_from_slice(b);
    Some(interpreter.invoke().and_then(|()| Ok(interpreter.output::<i32>(0)?.to_vec())))
}

#[test]
fn elementwise_operands_must_share_a_type() {
    use models::{FLOAT32, INT32, INT8};
    // ADD picks float arithmetic from a float output and read int8 inputs as floats.
    assert_eq!(load(&models::binary(models::ADD, &[1, 64], INT8, INT8, FLOAT32)), Err(Error::InvalidModel));
    assert_eq!(load(&models::binary(models::ADD, &[1, 64], FLOAT32, INT8, FLOAT32)), Err(Error::InvalidModel));
    assert_eq!(load(&models::binary(models::ADD, &[1, 64], FLOAT32, FLOAT32, FLOAT32)), Ok(()));
    if has(models::DIV) {
        assert_eq!(load(&models::binary(models::DIV, &[1, 4], INT32, INT32, INT32)), Ok(()));
        assert_eq!(load(&models::binary(models::DIV, &[1, 4], INT32, INT32, FLOAT32)), Err(Error::InvalidModel));
    }
    // A unary operator other than CAST/QUANTIZE/DEQUANTIZE keeps its type.
    if has(models::RELU) {
        let relu = |out| {
            models::model(
                &[models::Code::Builtin(models::RELU)],
                vec![models::SubgraphSpec {
                    tensors: vec![models::tensor(&[1, 4], FLOAT32), models::tensor(&[1, 4], out)],
                    inputs: vec![0],
                    outputs: vec![1],
                    ops: vec![models::op(0, &[0], &[1], models::Options::None)],
                }],
            )
        };
        assert_eq!(load(&relu(FLOAT32)), Ok(()));
        assert_eq!(load(&relu(INT8)), Err(Error::InvalidModel));
    }
}

#[test]
fn convolutions_must_divide_their_channels() {
    if !has(models::CONV_2D) {
        return;
    }
    assert_eq!(load(&models::conv(4, 4, 1)), Ok(()));
    assert_eq!(load(&models::conv(4, 2, 1)), Ok(()), "grouped: 2 groups of 2 channels");
    // An input of 0 channels divided the kernel by zero.
    assert_eq!(load(&models::conv(0, 4, 1)), Err(Error::InvalidModel));
    assert_eq!(load(&models::conv(4, 0, 1)), Err(Error::InvalidModel));
    assert_eq!(load(&models::conv(4, 3, 1)), Err(Error::InvalidModel), "4 channels in groups of 3");
    // A stride of 0 divides the padding arithmetic by zero.
    assert_eq!(load(&models::conv(4, 4, 0)), Err(Error::InvalidModel));
}

#[test]
fn a_convolution_the_checks_accept_runs() {
    for (with_bias, bytes) in [
        (true, models::conv_with_bias(4, 4, 1)),
        (false, models::conv(4, 4, 1)),
    ] {
        let bytes = AlignedBytes::from_slice(&bytes);
        let model = Model::from_buffer(&bytes).unwrap();
        let Ok(resolver) = OpResolver::for_model(&model) else {
            eprintln!("skipped: this build has no CONV_2D kernel");
            return;
        };
        let mut arena = vec![0u8; 16 * 1024];
        let mut interpreter = match MicroInterpreter::new(&model, &resolver, &mut arena) {
            Ok(interpreter) => interpreter,
            // The same assertion, where this TFLM's Prepare reads the bias (2022).
            Err(Error::KernelCheck { .. }) if !with_bias => {
                eprintln!("this TFLM's float CONV_2D needs a bias");
                continue;
            }
            Err(other) => panic!("with bias {with_bias}: {other:?}"),
        };
        interpreter.input::<f32>(0).unwrap().fill(1.0);
        match interpreter.invoke() {
            // Each output is the sum of 4 channels times 0.5.
            Ok(()) => assert!(interpreter.output::<f32>(0).unwrap().iter().all(|&y| y == 2.0)),
            // Before 2022 TFLM's float kernel asserted that the optional bias was there: the
            // assertion is contained, and the interpreter stopped.
            Err(Error::KernelCheck { .. }) if !with_bias => {
                eprintln!("this TFLM's float CONV_2D needs a bias");
                assert_eq!(interpreter.invoke(), Err(Error::Stopped));
            }
            Err(other) => panic!("with bias {with_bias}: {other:?}"),
        }
    }
}

#[test]
fn integer_division_by_zero_is_an_invoke_error() {
    if !has(models::DIV) {
        return;
    }
    let div = models::binary(models::DIV, &[1, 4], models::INT32, models::INT32, models::INT32);
    let Some(ok) = run_i32(&div, &[7, -7, 9, i32::MIN], &[2, 2, -3, 1]) else { return };
    // Before 2023 TFLM's DIV did floats only: then every int32 call fails (as a failed
    // Invoke where this TFLM cannot say which operator failed), and the ones below must
    // still fail rather than trap.
    let refused = match ok {
        Ok(values) => {
            assert_eq!(values, [3, -3, -3, i32::MIN]);
            false
        }
        Err(Error::Invoke { .. } | Error::Failed { call: "Invoke", .. }) => {
            eprintln!("this TFLM's DIV refuses int32");
            true
        }
        Err(other) => panic!("{other:?}"),
    };
    for (a, b) in [([1, 2, 3, 4], [1, 0, 1, 1]), ([i32::MIN, 1, 1, 1], [-1, 1, 1, 1])] {
        match run_i32(&div, &a, &b).unwrap() {
            Err(Error::Invoke { at, .. }) => assert_eq!(at.op.as_str(), "DIV"),
            Err(Error::Failed { call: "Invoke", .. }) if refused => {}
            other => panic!("{a:?} / {b:?}: {other:?}"),
        }
    }
}

#[test]
fn integer_modulo_by_zero_is_an_invoke_error() {
    if !has(models::FLOOR_MOD) {
        return;
    }
    let fm = models::binary(models::FLOOR_MOD, &[1, 4], models::INT32, models::INT32, models::INT32);
    let Some(ok) = run_i32(&fm, &[7, -7, 9, 5], &[2, 2, -4, 5]) else { return };
    let refused = match ok {
        Ok(values) => {
            assert_eq!(values, [1, 1, -3, 0]);
            false
        }
        // TFLM's FLOOR_MOD does floats only at some pins: then every int32 call fails (named
        // by operator where this TFLM can say which failed, before 2024 as a failed
        // Invoke), and the one below must still fail rather than trap.
        Err(Error::Invoke { .. } | Error::Failed { call: "Invoke", .. }) => {
            eprintln!("this TFLM's FLOOR_MOD refuses int32");
            true
        }
        Err(other) => panic!("{other:?}"),
    };
    match run_i32(&fm, &[1, 2, 3, 4], &[3, 3, 0, 3]).unwrap() {
        Err(Error::Invoke { at, .. }) => assert_eq!(at.op.as_str(), "FLOOR_MOD"),
        Err(Error::Failed { call: "Invoke", .. }) if refused => {}
        other => panic!("{other:?}"),
    }
}
