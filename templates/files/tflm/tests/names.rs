//! Tensors by name: signatures and tensor names, on models built here
//! (tests/support/models.rs) and on the golden models.
use tflm::{AlignedBytes, MicroInterpreter, Model, OpResolver, SignatureTensor};

mod support;
use support::models::{self, Code, Options, SignatureSpec};

/// input `t0` [1, 4] -> RELU -> output `t1`, with the signature `serving_default`
/// naming them `x` and `y`, plus a second signature naming a tensor that is not an input.
fn named() -> Vec<u8> {
    let unary = || models::SubgraphSpec {
        tensors: vec![models::tensor(&[1, 4], models::FLOAT32), models::tensor(&[1, 4], models::FLOAT32)],
        inputs: vec![0],
        outputs: vec![1],
        ops: vec![models::op(0, &[0], &[1], Options::None)],
    };
    models::model_with_signatures(
        &[Code::Builtin(models::RELU)],
        vec![unary()],
        &[
            SignatureSpec {
                key: "serving_default",
                subgraph: 0,
                inputs: vec![("x", 0)],
                outputs: vec![("y", 1)],
            },
            SignatureSpec {
                key: "odd",
                subgraph: 0,
                inputs: vec![("not_an_input", 1), ("past_the_end", 99)],
                outputs: vec![],
            },
        ],
    )
}

#[test]
fn signatures_list_their_named_tensors() {
    let bytes = AlignedBytes::from_slice(&named());
    let model = Model::from_buffer(&bytes).unwrap();
    if model.signatures().len() == 0 {
        eprintln!("skipped: this TFLM's schema has no signatures");
        return;
    }
    let keys: Vec<&str> = model.signatures().map(|s| s.key()).collect();
    assert_eq!(keys, ["serving_default", "odd"]);
    let serving = model.signature("serving_default").unwrap();
    assert_eq!(serving.subgraph(), 0);
    assert_eq!(serving.inputs().len(), 1);
    assert_eq!(serving.inputs().collect::<Vec<_>>(), [SignatureTensor { name: "x", position: Some(0) }]);
    assert_eq!(serving.outputs().collect::<Vec<_>>(), [SignatureTensor { name: "y", position: Some(0) }]);
    assert_eq!(serving.input_position("x"), Some(0));
    assert_eq!(serving.output_position("x"), None);
    // A signature naming a tensor that is not an input (or not a tensor) gives no position.
    let odd = model.signature("odd").unwrap();
    assert_eq!(odd.inputs().map(|t| t.position).collect::<Vec<_>>(), [None, None]);
    assert!(model.signature("missing").is_none());
}

#[test]
fn a_model_without_signatures_has_none() {
    let bytes = AlignedBytes::from_slice(&models::unary(Code::Builtin(models::RELU), 4, models::FLOAT32, Options::None));
    let model = Model::from_buffer(&bytes).unwrap();
    assert_eq!(model.signatures().len(), 0);
    assert!(model.signature("serving_default").is_none());
}

#[test]
fn the_interpreter_finds_tensors_by_signature_name_and_tensor_name() {
    let bytes = AlignedBytes::from_slice(&named());
    let model = Model::from_buffer(&bytes).unwrap();
    let resolver = match OpResolver::for_model(&model) {
        Ok(resolver) => resolver,
        Err(error) => {
            eprintln!("skipped: {error}");
            return;
        }
    };
    let mut arena = vec![0u8; 16 * 1024];
    let mut interpreter = MicroInterpreter::new(&model, &resolver, &mut arena).unwrap();
    assert_eq!(interpreter.input_tensor(0).unwrap().name(), Some("t0"));
    assert_eq!(interpreter.output_tensor(0).unwrap().name(), Some("t1"));
    if model.signatures().len() != 0 {
        assert_eq!(interpreter.input_index("x"), Some(0));
        assert_eq!(interpreter.output_index("y"), Some(0));
    }
    assert_eq!(interpreter.input_index("t0"), Some(0));
    assert_eq!(interpreter.output_index("t1"), Some(0));
    assert_eq!(interpreter.input_index("t1"), None, "an output's name is not an input's");
    assert_eq!(interpreter.input_index("nothing"), None);
    // The names address the same tensors as the positions do.
    let x = interpreter.input_index("t0").unwrap();
    interpreter.input::<f32>(x).unwrap().copy_from_slice(&[-1.0, 2.0, -3.0, 4.0]);
    interpreter.invoke().unwrap();
    let y = interpreter.output_index("t1").unwrap();
    assert_eq!(interpreter.output::<f32>(y).unwrap(), [0.0, 2.0, 0.0, 4.0]);
}
