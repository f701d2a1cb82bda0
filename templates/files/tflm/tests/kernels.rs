//! Rust kernels, resource variables, the profiler hook, resolver capacity and bool tensors,
//! on models built here (tests/support/models.rs) and on the golden models.
use std::sync::atomic::{AtomicUsize, Ordering};

use tflm::kernel::{Inputs, Kernel, KernelError, Outputs};
use tflm::profiler::{Event, Profiler};
use tflm::{AlignedBytes, BuiltinOperator, Error, MicroInterpreter, Model, Op, OpResolver};

mod support;
use support::models::{self, Code, Options};

/// ReLU on float tensors, as TFLM's RELU computes it (`x < 0 ? 0 : x`: -0 and NaN pass).
struct RustRelu;

impl Kernel for RustRelu {
    fn init(_options: &[u8]) -> Result<Self, KernelError> {
        Ok(RustRelu)
    }

    fn prepare(&mut self, inputs: &Inputs<'_>, outputs: &Outputs<'_>) -> Result<(), KernelError> {
        if inputs.len() != 1 || outputs.len() != 1 || inputs.get(0)?.dims() != outputs.get(0)?.dims() {
            return Err(KernelError::Unsupported);
        }
        Ok(())
    }

    fn invoke(&mut self, inputs: &Inputs<'_>, outputs: &mut Outputs<'_>) -> Result<(), KernelError> {
        let input = inputs.get(0)?.data::<f32>()?;
        let mut output = outputs.get_mut(0)?;
        for (y, &x) in output.data_mut::<f32>()?.iter_mut().zip(input) {
            *y = if x < 0.0 { 0.0 } else { x };
        }
        Ok(())
    }
}

const N: i32 = 16;

fn inputs() -> Vec<f32> {
    (0..N).map(|i| (i as f32 - 7.5) * 0.37).collect()
}

/// Skips a test on a TFLM that cannot host Rust kernels (the synthetic upstream of CI).
macro_rules! needs_kernels {
    () => {
        if !tflm::kernel::supported() {
            eprintln!("skipped: this TFLM cannot host Rust kernels");
            return;
        }
    };
}

/// Skips a test on a TFLM without resource variables (the synthetic upstream of CI).
macro_rules! needs_resource_variables {
    () => {
        if !tflm::resource_variables_supported() {
            eprintln!("skipped: this TFLM has no resource variables");
            return;
        }
    };
}

fn run(model: &Model<'_>, resolver: &OpResolver<4>, input: &[f32]) -> Result<Vec<f32>, Error> {
    let mut arena = vec![0u8; 16 * 1024];
    let mut interpreter = MicroInterpreter::new(model, resolver, &mut arena)?;
    interpreter.input::<f32>(0)?.copy_from_slice(input);
    interpreter.invoke()?;
    Ok(interpreter.output::<f32>(0)?.to_vec())
}

#[test]
fn a_rust_kernel_runs_a_custom_operator() {
    needs_kernels!();
    let bytes = AlignedBytes::from_slice(&models::unary(Code::Custom("RustRelu"), N, models::FLOAT32, Options::None));
    let model = Model::from_buffer(&bytes).unwrap();
    let mut resolver = OpResolver::<4>::with_capacity();
    // Without the kernel, the custom operator is missing by name.
    assert!(matches!(
        MicroInterpreter::new(&model, &resolver, &mut vec![0u8; 16 * 1024]),
        Err(Error::MissingOps(m)) if m.customs().1.unwrap().as_str() == "RustRelu"
    ));
    resolver.add_custom::<RustRelu>(c"RustRelu").unwrap();
    let out = run(&model, &resolver, &inputs()).unwrap();
    let want: Vec<f32> = inputs().iter().map(|&x| x.max(0.0)).collect();
    assert_eq!(out, want);
}

/// The same model with TFLM's RELU, then with the Rust kernel in its place: the outputs
/// are equal, bit for bit.
#[test]
fn a_rust_kernel_replaces_a_builtin_with_equal_outputs() {
    needs_kernels!();
    let Some(relu) = Op::for_code(tflm::OpCode::Builtin(BuiltinOperator(models::RELU))) else {
        eprintln!("skipped: this build has no RELU kernel");
        return;
    };
    let bytes = AlignedBytes::from_slice(&models::unary(Code::Builtin(models::RELU), N, models::FLOAT32, Options::None));
    let model = Model::from_buffer(&bytes).unwrap();
    let mut builtin = OpResolver::<4>::with_capacity();
    builtin.add(relu).unwrap();
    let mut rust = OpResolver::<4>::with_capacity();
    rust.add_builtin_kernel::<RustRelu>(BuiltinOperator(models::RELU)).unwrap();
    // A builtin with a kernel already cannot get a second one.
    assert!(matches!(
        rust.clone().add(relu),
        Err(Error::DuplicateKernel { op }) if op.as_str() == "RELU"
    ));
    let mut values = inputs();
    values.extend([f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e-40, -1e-40, f32::NAN, f32::MAX]);
    for chunk in values.chunks(N as usize) {
        let mut input = chunk.to_vec();
        input.resize(N as usize, 0.5);
        let a = run(&model, &builtin, &input).unwrap();
        let b = run(&model, &rust, &input).unwrap();
        assert_eq!(a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }
}

struct Refuses;

impl Kernel for Refuses {
    fn init(_options: &[u8]) -> Result<Self, KernelError> {
        Ok(Refuses)
    }
    fn prepare(&mut self, _: &Inputs<'_>, _: &Outputs<'_>) -> Result<(), KernelError> {
        Err(KernelError::Unsupported)
    }
    fn invoke(&mut self, _: &Inputs<'_>, _: &mut Outputs<'_>) -> Result<(), KernelError> {
        unreachable!("never prepared")
    }
}

#[test]
fn a_kernel_that_refuses_is_a_prepare_error_naming_it() {
    needs_kernels!();
    let bytes = AlignedBytes::from_slice(&models::unary(Code::Custom("Refuses"), N, models::FLOAT32, Options::None));
    let model = Model::from_buffer(&bytes).unwrap();
    let mut resolver = OpResolver::<4>::with_capacity();
    resolver.add_custom::<Refuses>(c"Refuses").unwrap();
    match run(&model, &resolver, &inputs()) {
        Err(Error::Prepare { at, .. }) => {
            assert_eq!((at.op.as_str(), at.subgraph, at.node), ("Refuses", 0, 0));
        }
        other => panic!("{other:?}"),
    }
}

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// A kernel with a large state, counting live instances.
struct Big {
    history: [f32; 1024],
    options: usize,
}

impl Kernel for Big {
    fn init(options: &[u8]) -> Result<Self, KernelError> {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Ok(Big {
            history: [0.0; 1024],
            options: options.len(),
        })
    }
    fn invoke(&mut self, inputs: &Inputs<'_>, outputs: &mut Outputs<'_>) -> Result<(), KernelError> {
        let input = inputs.get(0)?.data::<f32>()?;
        self.history[0] += 1.0;
        let mut output = outputs.get_mut(0)?;
        for (y, &x) in output.data_mut::<f32>()?.iter_mut().zip(input) {
            *y = x + self.history[0] + self.options as f32;
        }
        Ok(())
    }
}

impl Drop for Big {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The kernel's state lives in the arena: every arena size is Ok or ArenaTooSmall (never
/// a crash), the state keeps its value across invokes, gets the custom options, and is
/// dropped with the interpreter. (A build stopped part way leaks the states made so far:
/// TFLM's half-built node table cannot be walked to drop them.)
#[test]
fn kernel_state_lives_in_the_arena_and_is_dropped() {
    needs_kernels!();
    let bytes = AlignedBytes::from_slice(&models::unary(
        Code::Custom("Big"),
        N,
        models::FLOAT32,
        Options::Custom(vec![1, 2, 3]),
    ));
    let model = Model::from_buffer(&bytes).unwrap();
    let mut resolver = OpResolver::<1>::with_capacity();
    resolver.add_custom::<Big>(c"Big").unwrap();
    let mut storage = vec![0u8; 16 * 1024];
    let (mut ok, mut small) = (0, 0);
    for size in (0..storage.len()).step_by(16) {
        let before = LIVE.load(Ordering::SeqCst);
        match MicroInterpreter::new(&model, &resolver, &mut storage[..size]) {
            Ok(mut interpreter) => {
                ok += 1;
                assert_eq!(LIVE.load(Ordering::SeqCst), before + 1);
                interpreter.input::<f32>(0).unwrap().fill(1.0);
                interpreter.invoke().unwrap();
                interpreter.invoke().unwrap();
                assert_eq!(interpreter.output::<f32>(0).unwrap()[0], 1.0 + 2.0 + 3.0);
                drop(interpreter);
                assert_eq!(LIVE.load(Ordering::SeqCst), before, "dropped with the interpreter");
            }
            Err(Error::ArenaTooSmall { available, needed }) => {
                small += 1;
                assert!(needed > available);
            }
            Err(other) => panic!("arena of {size} bytes: {other:?}"),
        }
    }
    assert!(ok > 0 && small > 4096 / 16, "ok {ok}, too small {small}");
}

#[test]
fn resource_variables_keep_state_across_invokes() {
    needs_resource_variables!();
    let bytes = AlignedBytes::from_slice(&models::accumulator(4, Some("total")));
    let model = Model::from_buffer(&bytes).unwrap();
    let mut resolver = OpResolver::<5>::with_capacity();
    if let Err(error) = resolver.add_ops_of(&model) {
        eprintln!("skipped: {error}");
        return;
    }
    let mut arena = vec![0u8; 16 * 1024];
    let mut interpreter = MicroInterpreter::new(&model, &resolver, &mut arena).unwrap();
    let mut total = [0.0f32; 4];
    for step in 1..=5 {
        let x = [step as f32, -0.5, 2.0 * step as f32, 0.25];
        interpreter.input::<f32>(0).unwrap().copy_from_slice(&x);
        interpreter.invoke().unwrap();
        for (t, v) in total.iter_mut().zip(x) {
            *t += v;
        }
        assert_eq!(interpreter.output::<f32>(0).unwrap(), &total[..], "step {step}");
    }
    // Reset zeroes the variables.
    interpreter.reset().unwrap();
    interpreter.input::<f32>(0).unwrap().copy_from_slice(&[1.0; 4]);
    interpreter.invoke().unwrap();
    assert_eq!(interpreter.output::<f32>(0).unwrap(), &[1.0; 4]);
}

/// TFLM compares variable names with strcmp: a VAR_HANDLE without a name is refused by
/// the model checks, not followed into a NULL pointer.
#[test]
fn a_nameless_variable_is_an_invalid_model() {
    let bytes = AlignedBytes::from_slice(&models::accumulator(4, None));
    assert!(matches!(Model::from_buffer(&bytes), Err(Error::InvalidModel)));
}

/// One profiler event, owned: (tag, (subgraph, operator), ticks, depth).
type Recorded = (String, Option<(usize, usize)>, u64, usize);

#[derive(Default)]
struct Recorder {
    clock: u64,
    events: Vec<Recorded>,
}

impl Profiler for Recorder {
    fn now(&mut self) -> u64 {
        self.clock += 10;
        self.clock
    }
    fn record(&mut self, event: &Event<'_>) {
        self.events.push((event.tag.to_string(), event.at, event.ticks, event.depth));
    }
}

#[test]
fn the_profiler_reports_each_operator() {
    if !tflm::profiler::supported() {
        eprintln!("skipped: this TFLM has no profiler interface");
        return;
    }
    needs_resource_variables!();
    let bytes = AlignedBytes::from_slice(&models::accumulator(4, Some("total")));
    let model = Model::from_buffer(&bytes).unwrap();
    let mut resolver = OpResolver::<5>::with_capacity();
    if resolver.add_ops_of(&model).is_err() {
        return;
    }
    let mut arena = vec![0u8; 16 * 1024];
    let mut interpreter = MicroInterpreter::new(&model, &resolver, &mut arena).unwrap();
    let mut recorder = Recorder::default();
    interpreter.invoke_profiled(&mut recorder).unwrap();
    let tags: Vec<&str> = recorder.events.iter().map(|e| e.0.as_str()).collect();
    // Subgraph 1's operators run inside CALL_ONCE, so they end first.
    assert_eq!(
        tags,
        ["VAR_HANDLE", "ASSIGN_VARIABLE", "CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ADD", "ASSIGN_VARIABLE"]
    );
    assert_eq!(recorder.events[0].1, Some((1, 0)));
    assert_eq!(recorder.events[0].3, 1);
    assert_eq!(recorder.events[2].1, Some((0, 0)));
    assert_eq!(recorder.events[2].3, 0);
    assert!(recorder.events.iter().all(|e| e.2 >= 10));
    // Without a profiler nothing is reported, and the next profiled run skips CALL_ONCE's
    // subgraph, as TFLM runs it once.
    interpreter.invoke().unwrap();
    let mut again = Recorder::default();
    interpreter.invoke_profiled(&mut again).unwrap();
    assert_eq!(again.events.len(), 5);
}

#[test]
fn the_resolver_holds_what_its_capacity_says() {
    needs_kernels!();
    let mut resolver = OpResolver::<1>::with_capacity();
    resolver.add_custom::<RustRelu>(c"A").unwrap();
    assert!(matches!(resolver.add_custom::<RustRelu>(c"A"), Err(Error::DuplicateKernel { .. })));
    assert!(matches!(resolver.add_custom::<RustRelu>(c"B"), Err(Error::ResolverFull { capacity: 1 })));
    assert_eq!((resolver.len(), resolver.capacity()), (1, 1));
    // The arena holds only the operators added, whatever the resolver's capacity.
    let bytes = AlignedBytes::from_slice(&models::unary(Code::Custom("A"), N, models::FLOAT32, Options::None));
    let model = Model::from_buffer(&bytes).unwrap();
    let mut big = OpResolver::new();
    big.add_custom::<RustRelu>(c"A").unwrap();
    let need = |fits: &dyn Fn(&mut [u8]) -> bool| (0..8192).step_by(16).find(|&n| fits(&mut vec![0u8; n])).unwrap();
    let small_need = need(&|a| MicroInterpreter::new(&model, &resolver, a).is_ok());
    let big_need = need(&|a| MicroInterpreter::new(&model, &big, a).is_ok());
    assert_eq!(small_need, big_need, "the C++ table holds the operators added, whatever N");
}

#[test]
fn bool_tensors_read_and_write_as_bool() {
    let Some(not) = Op::for_code(tflm::OpCode::Builtin(BuiltinOperator(models::LOGICAL_NOT))) else {
        eprintln!("skipped: this build has no LOGICAL_NOT kernel");
        return;
    };
    let bytes = AlignedBytes::from_slice(&models::unary(Code::Builtin(models::LOGICAL_NOT), 4, models::BOOL, Options::None));
    let model = Model::from_buffer(&bytes).unwrap();
    assert_eq!(model.operators().collect::<Vec<_>>(), [not.code().unwrap()]);
    let resolver = match OpResolver::for_model(&model) {
        Ok(resolver) => resolver,
        Err(error) => {
            eprintln!("skipped: {error}");
            return;
        }
    };
    let mut arena = vec![0u8; 8 * 1024];
    let mut interpreter = MicroInterpreter::new(&model, &resolver, &mut arena).unwrap();
    interpreter.input::<bool>(0).unwrap().copy_from_slice(&[true, false, false, true]);
    interpreter.invoke().unwrap();
    assert_eq!(interpreter.output::<bool>(0).unwrap(), &[false, true, true, false]);
    // A byte other than 0 or 1 is not a bool: the typed view refuses it.
    interpreter.input_bytes(0).unwrap()[1] = 7;
    assert!(matches!(interpreter.input::<bool>(0), Err(Error::InvalidElements)));
}

#[test]
fn half_floats_convert_exactly() {
    assert_eq!(tflm::F16(0x3c00).to_f32(), 1.0);
    assert_eq!(tflm::F16(0xc000).to_f32(), -2.0);
    assert_eq!(tflm::F16(0x0001).to_f32(), 2f32.powi(-24));
    assert_eq!(tflm::F16(0x7c00).to_f32(), f32::INFINITY);
    assert!(tflm::F16(0x7e00).to_f32().is_nan());
    assert_eq!(tflm::Bf16(0x3f80).to_f32(), 1.0);
}
