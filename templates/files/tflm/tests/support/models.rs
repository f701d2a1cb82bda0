//! Small TFLite models built in the tests with the `flatbuffers` crate, for what no
//! upstream model exercises: Rust kernels under a custom name, resource variables, bool
//! tensors. Field slots are the TFLite schema's (tensorflow/lite/schema/schema.fbs).
#![allow(dead_code)]

use flatbuffers::{FlatBufferBuilder, WIPOffset};

pub const FLOAT32: i8 = 0;
pub const INT32: i8 = 2;
pub const BOOL: i8 = 6;
pub const INT8: i8 = 9;
pub const RESOURCE: i8 = 13;

pub const ADD: i32 = 0;
pub const CONV_2D: i32 = 3;
pub const RELU: i32 = 19;
pub const DIV: i32 = 42;
pub const FLOOR_MOD: i32 = 95;
pub const CUSTOM: i32 = 32;
pub const LOGICAL_NOT: i32 = 87;
pub const CALL_ONCE: i32 = 129;
pub const VAR_HANDLE: i32 = 142;
pub const READ_VARIABLE: i32 = 143;
pub const ASSIGN_VARIABLE: i32 = 144;

const CONV_2D_OPTIONS: u8 = 1;
const CALL_ONCE_OPTIONS: u8 = 103;
const VAR_HANDLE_OPTIONS: u8 = 111;

/// The vtable slot of field `index`.
const fn slot(index: u16) -> u16 {
    4 + 2 * index
}

type Table = WIPOffset<flatbuffers::TableFinishedWIPOffset>;

/// One tensor: shape, type, constant data (empty for activations).
pub struct TensorSpec {
    pub shape: Vec<i32>,
    pub dtype: i8,
    pub data: Vec<u8>,
}

pub fn tensor(shape: &[i32], dtype: i8) -> TensorSpec {
    TensorSpec {
        shape: shape.to_vec(),
        dtype,
        data: Vec::new(),
    }
}

pub fn constant(shape: &[i32], dtype: i8, data: Vec<u8>) -> TensorSpec {
    TensorSpec {
        shape: shape.to_vec(),
        dtype,
        data,
    }
}

/// One operator: its operator code index, tensors, and options.
pub struct OpSpec {
    pub code: usize,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub options: Options,
}

pub enum Options {
    None,
    CallOnce { init_subgraph: i32 },
    Conv2D { stride: i32 },
    VarHandle { container: Option<&'static str>, shared_name: Option<&'static str> },
    Custom(Vec<u8>),
}

pub fn op(code: usize, inputs: &[i32], outputs: &[i32], options: Options) -> OpSpec {
    OpSpec {
        code,
        inputs: inputs.to_vec(),
        outputs: outputs.to_vec(),
        options,
    }
}

pub struct SubgraphSpec {
    pub tensors: Vec<TensorSpec>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub ops: Vec<OpSpec>,
}

/// An operator code: a builtin, or (code 32) a custom name.
pub enum Code {
    Builtin(i32),
    Custom(&'static str),
}

/// A signature: its key, subgraph, and named inputs and outputs (name, tensor index).
pub struct SignatureSpec {
    pub key: &'static str,
    pub subgraph: u32,
    pub inputs: Vec<(&'static str, u32)>,
    pub outputs: Vec<(&'static str, u32)>,
}

/// The model's bytes (copy them into `tflm::AlignedBytes` to load).
pub fn model(codes: &[Code], subgraphs: Vec<SubgraphSpec>) -> Vec<u8> {
    model_with_signatures(codes, subgraphs, &[])
}

/// Like [`model`], with signatures (SignatureDef, slot 7 of Model).
pub fn model_with_signatures(codes: &[Code], subgraphs: Vec<SubgraphSpec>, signatures: &[SignatureSpec]) -> Vec<u8> {
    let mut b = FlatBufferBuilder::new();
    // Buffer 0 is the empty sentinel, as converters write; then one per tensor.
    let mut buffers: Vec<Vec<u8>> = vec![Vec::new()];
    let mut subgraph_tables = Vec::new();
    for subgraph in &subgraphs {
        let mut tensors = Vec::new();
        for (i, t) in subgraph.tensors.iter().enumerate() {
            let buffer = buffers.len() as u32;
            buffers.push(t.data.clone());
            let shape = b.create_vector(&t.shape);
            let name = b.create_string(&format!("t{i}"));
            let start = b.start_table();
            b.push_slot_always(slot(0), shape);
            b.push_slot::<i8>(slot(1), t.dtype, 0);
            b.push_slot::<u32>(slot(2), buffer, 0);
            b.push_slot_always(slot(3), name);
            tensors.push(b.end_table(start));
        }
        let mut ops = Vec::new();
        for o in &subgraph.ops {
            let inputs = b.create_vector(&o.inputs);
            let outputs = b.create_vector(&o.outputs);
            let (kind, options, custom) = match &o.options {
                Options::None => (0u8, None, None),
                Options::CallOnce { init_subgraph } => {
                    let start = b.start_table();
                    b.push_slot::<i32>(slot(0), *init_subgraph, 0);
                    (CALL_ONCE_OPTIONS, Some(b.end_table(start)), None)
                }
                Options::Conv2D { stride } => {
                    // padding VALID (1), stride w and h, no activation, dilations 1.
                    let start = b.start_table();
                    b.push_slot::<i8>(slot(0), 1, 0);
                    b.push_slot::<i32>(slot(1), *stride, 0);
                    b.push_slot::<i32>(slot(2), *stride, 0);
                    b.push_slot::<i32>(slot(4), 1, 1);
                    b.push_slot::<i32>(slot(5), 1, 1);
                    (CONV_2D_OPTIONS, Some(b.end_table(start)), None)
                }
                Options::VarHandle { container, shared_name } => {
                    let container = container.map(|c| b.create_string(c));
                    let shared = shared_name.map(|s| b.create_string(s));
                    let start = b.start_table();
                    if let Some(c) = container {
                        b.push_slot_always(slot(0), c);
                    }
                    if let Some(s) = shared {
                        b.push_slot_always(slot(1), s);
                    }
                    (VAR_HANDLE_OPTIONS, Some(b.end_table(start)), None)
                }
                Options::Custom(bytes) => (0, None, Some(b.create_vector(bytes))),
            };
            let start = b.start_table();
            b.push_slot::<u32>(slot(0), o.code as u32, 0);
            b.push_slot_always(slot(1), inputs);
            b.push_slot_always(slot(2), outputs);
            b.push_slot::<u8>(slot(3), kind, 0);
            if let Some(options) = options {
                b.push_slot_always(slot(4), options);
            }
            if let Some(custom) = custom {
                b.push_slot_always(slot(5), custom);
            }
            ops.push(b.end_table(start));
        }
        let tensors = b.create_vector(&tensors);
        let inputs = b.create_vector(&subgraph.inputs);
        let outputs = b.create_vector(&subgraph.outputs);
        let ops = b.create_vector(&ops);
        let start = b.start_table();
        b.push_slot_always(slot(0), tensors);
        b.push_slot_always(slot(1), inputs);
        b.push_slot_always(slot(2), outputs);
        b.push_slot_always(slot(3), ops);
        subgraph_tables.push(b.end_table(start));
    }
    let mut code_tables: Vec<Table> = Vec::new();
    for code in codes {
        let (builtin, name) = match code {
            Code::Builtin(c) => (*c, None),
            Code::Custom(n) => (CUSTOM, Some(b.create_string(n))),
        };
        let start = b.start_table();
        b.push_slot::<i8>(slot(0), builtin.min(127) as i8, 0);
        if let Some(name) = name {
            b.push_slot_always(slot(1), name);
        }
        b.push_slot::<i32>(slot(2), 1, 1);
        b.push_slot::<i32>(slot(3), builtin, 0);
        code_tables.push(b.end_table(start));
    }
    let mut buffer_tables = Vec::new();
    for data in &buffers {
        // Constant data may be unaligned here: only TFLM's kernels (memcpy) read it.
        let data = (!data.is_empty()).then(|| b.create_vector(data));
        let start = b.start_table();
        if let Some(data) = data {
            b.push_slot_always(slot(0), data);
        }
        buffer_tables.push(b.end_table(start));
    }
    let codes = b.create_vector(&code_tables);
    let subgraphs = b.create_vector(&subgraph_tables);
    let buffers = b.create_vector(&buffer_tables);
    let description = b.create_string("bindbot test model");
    let mut signature_tables = Vec::new();
    for sig in signatures {
        let mut maps = |list: &[(&str, u32)]| {
            let tables: Vec<Table> = list
                .iter()
                .map(|&(name, index)| {
                    let name = b.create_string(name);
                    let start = b.start_table();
                    b.push_slot_always(slot(0), name);
                    b.push_slot::<u32>(slot(1), index, 0);
                    b.end_table(start)
                })
                .collect();
            b.create_vector(&tables)
        };
        let inputs = maps(&sig.inputs);
        let outputs = maps(&sig.outputs);
        let key = b.create_string(sig.key);
        let start = b.start_table();
        b.push_slot_always(slot(0), inputs);
        b.push_slot_always(slot(1), outputs);
        b.push_slot_always(slot(2), key);
        b.push_slot::<u32>(slot(4), sig.subgraph, 0);
        signature_tables.push(b.end_table(start));
    }
    let signature_defs = (!signatures.is_empty()).then(|| b.create_vector(&signature_tables));
    let start = b.start_table();
    b.push_slot::<u32>(slot(0), 3, 0);
    b.push_slot_always(slot(1), codes);
    b.push_slot_always(slot(2), subgraphs);
    b.push_slot_always(slot(3), description);
    b.push_slot_always(slot(4), buffers);
    if let Some(defs) = signature_defs {
        b.push_slot_always(slot(7), defs);
    }
    let root = b.end_table(start);
    b.finish(root, Some("TFL3"));
    b.finished_data().to_vec()
}

pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// input [1, n] float -> one operator (`code`) -> output [1, n].
pub fn unary(code: Code, n: i32, dtype: i8, options: Options) -> Vec<u8> {
    model(
        &[code],
        vec![SubgraphSpec {
            tensors: vec![tensor(&[1, n], dtype), tensor(&[1, n], dtype)],
            inputs: vec![0],
            outputs: vec![1],
            ops: vec![op(0, &[0], &[1], options)],
        }],
    )
}

/// An accumulator over resource variables: each invoke outputs the sum of every input so
/// far. Subgraph 0: CALL_ONCE(subgraph 1), VAR_HANDLE -> READ_VARIABLE -> ADD(input) ->
/// ASSIGN_VARIABLE; subgraph 1 assigns zeros. As TensorFlow's converter writes a
/// `tf.Variable` updated in place.
pub fn accumulator(n: i32, shared_name: Option<&'static str>) -> Vec<u8> {
    let handle = Options::VarHandle {
        container: None,
        shared_name,
    };
    let handle1 = Options::VarHandle {
        container: None,
        shared_name,
    };
    let codes = [
        Code::Builtin(CALL_ONCE),
        Code::Builtin(VAR_HANDLE),
        Code::Builtin(READ_VARIABLE),
        Code::Builtin(ADD),
        Code::Builtin(ASSIGN_VARIABLE),
    ];
    let main = SubgraphSpec {
        // 0 x, 1 handle, 2 old, 3 sum
        tensors: vec![
            tensor(&[1, n], FLOAT32),
            tensor(&[], RESOURCE),
            tensor(&[1, n], FLOAT32),
            tensor(&[1, n], FLOAT32),
        ],
        inputs: vec![0],
        outputs: vec![3],
        ops: vec![
            op(0, &[], &[], Options::CallOnce { init_subgraph: 1 }),
            op(1, &[], &[1], handle),
            op(2, &[1], &[2], Options::None),
            op(3, &[2, 0], &[3], Options::None),
            op(4, &[1, 3], &[], Options::None),
        ],
    };
    let init = SubgraphSpec {
        // 0 handle, 1 zeros
        tensors: vec![
            tensor(&[], RESOURCE),
            constant(&[1, n], FLOAT32, f32_bytes(&vec![0.0; n as usize])),
        ],
        inputs: vec![],
        outputs: vec![],
        ops: vec![op(1, &[], &[0], handle1), op(4, &[0, 1], &[], Options::None)],
    };
    model(&codes, vec![main, init])
}

/// inputs a and b (`shape`, types `a_type`, `b_type`) -> one binary operator -> output.
pub fn binary(code: i32, shape: &[i32], a_type: i8, b_type: i8, out_type: i8) -> Vec<u8> {
    model(
        &[Code::Builtin(code)],
        vec![SubgraphSpec {
            tensors: vec![tensor(shape, a_type), tensor(shape, b_type), tensor(shape, out_type)],
            inputs: vec![0, 1],
            outputs: vec![2],
            ops: vec![op(0, &[0, 1], &[2], Options::None)],
        }],
    )
}

/// A float CONV_2D: input [1, 4, 4, `input_depth`], filter [2, 1, 1, `filter_depth`]
/// (constant), output [1, 4/stride, 4/stride, 2].
pub fn conv(input_depth: i32, filter_depth: i32, stride: i32) -> Vec<u8> {
    conv_model(input_depth, filter_depth, stride, false)
}

/// The same convolution with a zero bias (TFLM's float kernel required one before 2022).
pub fn conv_with_bias(input_depth: i32, filter_depth: i32, stride: i32) -> Vec<u8> {
    conv_model(input_depth, filter_depth, stride, true)
}

fn conv_model(input_depth: i32, filter_depth: i32, stride: i32, bias: bool) -> Vec<u8> {
    let filter = (2 * filter_depth).max(0) as usize;
    let out = if stride > 0 { 4 / stride } else { 4 };
    let mut tensors = vec![
        tensor(&[1, 4, 4, input_depth], FLOAT32),
        constant(&[2, 1, 1, filter_depth], FLOAT32, f32_bytes(&vec![0.5; filter])),
        tensor(&[1, out, out, 2], FLOAT32),
    ];
    let mut operands = vec![0, 1];
    if bias {
        tensors.push(constant(&[2], FLOAT32, f32_bytes(&[0.0; 2])));
        operands.push(3);
    }
    model(
        &[Code::Builtin(CONV_2D)],
        vec![SubgraphSpec {
            tensors,
            inputs: vec![0],
            outputs: vec![2],
            ops: vec![op(0, &operands, &[2], Options::Conv2D { stride })],
        }],
    )
}
