//! Hostile models made from a valid one by patching its flatbuffer in place, for the
//! checks that must hold on every target: `Model::from_buffer` rejects each of them. Shared
//! by the firmware (run on QEMU's 32-bit cores) and the host tests (`tests/safety.rs`), so
//! both check the very same bytes.
//!
//! Only fields the model already stores are rewritten (a flatbuffer cannot grow in place),
//! so each patch returns `None` when the model lacks the field it needs.

/// Field numbers of the TFLite schema's tables used here.
const MODEL_SUBGRAPHS: usize = 2;
const MODEL_BUFFERS: usize = 4;
const SUBGRAPH_TENSORS: usize = 0;
const SUBGRAPH_INPUTS: usize = 1;
const SUBGRAPH_OPERATORS: usize = 3;
const TENSOR_SHAPE: usize = 0;
const TENSOR_TYPE: usize = 1;
const TENSOR_BUFFER: usize = 2;
const BUFFER_DATA: usize = 0;
const OPERATOR_OUTPUTS: usize = 2;
/// TensorType values with 4-byte elements.
const FLOAT32: u8 = 0;
const INT32: u8 = 2;

fn u32_at(m: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(m.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn u16_at(m: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_le_bytes(m.get(at..at.checked_add(2)?)?.try_into().ok()?)))
}

fn put_u32(m: &mut [u8], at: usize, value: u32) -> Option<()> {
    m.get_mut(at..at.checked_add(4)?)?.copy_from_slice(&value.to_le_bytes());
    Some(())
}

/// Where field `field` of the table at `table` is stored, if it is.
fn field(m: &[u8], table: usize, field: usize) -> Option<usize> {
    let soffset = u32_at(m, table)? as i32 as isize;
    let vtable = usize::try_from((table as isize).checked_sub(soffset)?).ok()?;
    let entry = 4 + 2 * field;
    if entry + 2 > u16_at(m, vtable)? {
        return None;
    }
    match u16_at(m, vtable + entry)? {
        0 => None,
        offset => Some(table + offset),
    }
}

/// The table or vector an offset field at `at` points to.
fn deref(m: &[u8], at: usize) -> Option<usize> {
    at.checked_add(u32_at(m, at)? as usize)
}

fn vector(m: &[u8], table: usize, index: usize) -> Option<(usize, usize)> {
    let v = deref(m, field(m, table, index)?)?;
    Some((v + 4, u32_at(m, v)? as usize))
}

fn element_table(m: &[u8], (start, len): (usize, usize), i: usize) -> Option<usize> {
    (i < len).then_some(())?;
    deref(m, start + 4 * i)
}

fn subgraph0(m: &[u8]) -> Option<usize> {
    let root = deref(m, 0)?;
    element_table(m, vector(m, root, MODEL_SUBGRAPHS)?, 0)
}

/// The index of a buffer holding at least `min` bytes of constant data.
fn data_buffer(m: &[u8], min: usize) -> Option<u32> {
    let root = deref(m, 0)?;
    let buffers = vector(m, root, MODEL_BUFFERS)?;
    (0..buffers.1).find_map(|i| {
        let buffer = element_table(m, buffers, i)?;
        let (_, len) = vector(m, buffer, BUFFER_DATA)?;
        (len >= min).then_some(i as u32)
    })
}

fn tensor(m: &[u8], index: usize) -> Option<usize> {
    element_table(m, vector(m, subgraph0(m)?, SUBGRAPH_TENSORS)?, index)
}

/// Points input 0's tensor at constant data: writing that input would write the model.
pub fn constant_input(m: &mut [u8]) -> Option<()> {
    let inputs = vector(m, subgraph0(m)?, SUBGRAPH_INPUTS)?;
    point_at_data(m, inputs)
}

/// Points operator 0's first output at constant data: its kernel would write the model.
pub fn constant_output(m: &mut [u8]) -> Option<()> {
    let operators = vector(m, subgraph0(m)?, SUBGRAPH_OPERATORS)?;
    let op = element_table(m, operators, 0)?;
    let outputs = vector(m, op, OPERATOR_OUTPUTS)?;
    point_at_data(m, outputs)
}

/// Makes the first tensor of the index list `(start, count)` use a buffer with data.
fn point_at_data(m: &mut [u8], (start, count): (usize, usize)) -> Option<()> {
    (count > 0).then_some(())?;
    let at = field(m, tensor(m, u32_at(m, start)? as usize)?, TENSOR_BUFFER)?;
    let buffer = data_buffer(m, 64)?;
    put_u32(m, at, buffer)
}

/// Gives a tensor with 4-byte elements and no constant data 2^30 elements: 2^32 bytes,
/// which is 0 in a 32-bit size_t.
pub fn huge_tensor(m: &mut [u8]) -> Option<()> {
    let (start, count) = vector(m, subgraph0(m)?, SUBGRAPH_TENSORS)?;
    for i in 0..count {
        let t = element_table(m, (start, count), i)?;
        let four_bytes = match field(m, t, TENSOR_TYPE) {
            None => true, // the default type is FLOAT32
            Some(at) => matches!(m.get(at), Some(&FLOAT32 | &INT32)),
        };
        let constant = field(m, t, TENSOR_BUFFER)
            .and_then(|at| u32_at(m, at))
            .and_then(|b| {
                let root = deref(m, 0)?;
                let buffer = element_table(m, vector(m, root, MODEL_BUFFERS)?, b as usize)?;
                Some(vector(m, buffer, BUFFER_DATA).is_some_and(|(_, len)| len > 0))
            })
            .unwrap_or(false);
        let Some((dims, rank)) = vector(m, t, TENSOR_SHAPE) else {
            continue;
        };
        if !four_bytes || constant || rank == 0 {
            continue;
        }
        for d in 0..rank {
            put_u32(m, dims + 4 * d, if d + 1 == rank { 1 << 30 } else { 1 })?;
        }
        return Some(());
    }
    None
}
