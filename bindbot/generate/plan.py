"""What the templates need from the API model, checked before anything is rendered.

`plan()` is pure: it reads an `ApiModel` and returns a `GenPlan`, or raises
`GenerationError` naming every entity the templates cannot express (a new required
constructor parameter, a missing method the safe layer relies on...). Generation then
writes nothing, so a crate is never half-updated.
"""

from __future__ import annotations

from dataclasses import dataclass

from bindbot.api.model import ApiModel, Function, FunctionEntity, RecordEntity
from bindbot.api.rust_names import snake
from bindbot.errors import GenerationError

INTERPRETER = "tflite::MicroInterpreter"
RESOLVER = "tflite::MicroMutableOpResolver"

#: Interpreter methods the shim wraps: C++ name -> whether the safe layer needs it.
WRAPPED_METHODS: dict[str, bool] = {
    "AllocateTensors": True,
    "Invoke": True,
    "input": True,
    "output": True,
    "inputs_size": True,
    "outputs_size": True,
    "arena_used_bytes": True,
    "Reset": False,
    "initialization_status": False,
}


@dataclass(frozen=True)
class Op:
    """One `Add*` method of the resolver that the shim can call with no arguments."""

    method: str  # AddConv2D
    rust: str  # add_conv_2d
    shim: str  # tflm_op_resolver_add_conv_2d


@dataclass(frozen=True)
class CtorArg:
    """One argument the shim passes to the interpreter constructor."""

    name: str
    expression: str  # C++ expression in the shim


@dataclass(frozen=True)
class GenPlan:
    commit: str
    ops: tuple[Op, ...]
    ctor_args: tuple[CtorArg, ...]
    methods: frozenset[str]  # wrapped interpreter methods that exist at this commit
    needs_error_reporter: bool  # pre-2022 constructors take an ErrorReporter*
    custom_op: bool  # AddCustom(name, registration) exists
    resolver_capacity: int
    #: How the shim implements TFLM's platform log hook, so its output reaches Rust:
    #: "format" for `DebugLog(const char* format, va_list)` (with DebugVsnprintf where
    #: declared), "string" for the older `DebugLog(const char*)`.
    debug_log: str = "format"
    debug_vsnprintf: bool = False
    #: The shim builds the interpreter on its own arena allocator (a SingleArenaBufferAllocator
    #: subclass, a GreedyMemoryPlanner and MicroAllocator::Create), which turns the failed
    #: allocations TFLM does not check into an error. False on APIs without those classes.
    arena_guard: bool = False
    #: The TFLM arena allocator the guard derives from and its header: SimpleMemoryAllocator
    #: before 2022-09 (its constructor, MicroAllocator::Create and the interpreter's
    #: allocator constructor then take an ErrorReporter* too), SingleArenaBufferAllocator
    #: after.
    arena_class: str = "SingleArenaBufferAllocator"
    arena_header: str = "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.h"
    #: Which allocation methods it has: "buffer" (AllocatePersistentBuffer, AllocateTemp,
    #: the resizable head buffer; 2022-04 on) or "head_tail" (AllocateFromTail,
    #: AllocateTemp, SetHeadBufferSize; before).
    arena_api: str = "buffer"
    #: MicroAllocator::Create takes the memory planner (a GreedyMemoryPlanner in the slot);
    #: before 2021-09 it made its own inside the arena.
    arena_planner: bool = True
    #: The interpreter's state and current operator can be read (MicroInterpreterContext,
    #: MicroInterpreterGraph), so errors name the operator that failed.
    graph_state: bool = False
    #: TfLiteTensor carries per-channel quantization (TfLiteAffineQuantization).
    per_channel: bool = False
    #: The interpreter takes a MicroProfilerInterface (BeginEvent/EndEvent), which the shim
    #: forwards to Rust; application kernels find the shim's state through it.
    profiler: bool = False
    #: The interpreter takes MicroResourceVariables (created in the arena per model).
    resource_variables: bool = False


def _shim_constructor(ctors: tuple[Function, ...]) -> tuple[tuple[CtorArg, ...], bool] | None:
    """Pick the (model, resolver, arena, size[, error_reporter]) constructor, if any."""
    wanted = ("Model", "MicroOpResolver", "char *", "")
    for ctor in ctors:
        required = [p for p in ctor.params if p.default is None]
        reporter = bool(required) and "ErrorReporter" in required[-1].canonical
        if reporter:
            required = required[:-1]
        if len(required) != 4 or not all(
            w in p.canonical for w, p in zip(wanted, required, strict=True)
        ):
            continue
        exprs = ["model_ptr", "*resolver_ptr", "tensor_arena", "tensor_arena_size"]
        args = [CtorArg(p.name, e) for p, e in zip(required, exprs, strict=True)]
        if reporter:
            args.append(CtorArg("error_reporter", "tflm_error_reporter()"))
        return tuple(args), reporter
    return None


def plan(model: ApiModel, commit: str, resolver_capacity: int = 32) -> GenPlan:
    problems: list[str] = []
    interp = model.get(INTERPRETER)
    resolver = model.get(RESOLVER)
    if not isinstance(interp, RecordEntity):
        problems.append(f"{INTERPRETER} is missing: the shim wraps it")
    if not isinstance(resolver, RecordEntity):
        problems.append(f"{RESOLVER} is missing: the op resolver template instantiates it")
    if problems:
        raise GenerationError("; ".join(problems), "extend templates/ for the new API")
    assert isinstance(interp, RecordEntity) and isinstance(resolver, RecordEntity)

    chosen = _shim_constructor(interp.constructors)
    if chosen is None:
        shown = " | ".join(c.display() for c in interp.constructors)
        raise GenerationError(
            f"no {INTERPRETER} constructor takes (model, op resolver, arena, size) with every "
            f"other parameter defaulted; constructors now: {shown}",
            "extend templates/shim/tflm_shim.cc.j2 to supply the new parameters",
        )
    ctor_args, reporter = chosen

    names = {m.name for m in interp.methods}
    missing = [m for m, required in WRAPPED_METHODS.items() if required and m not in names]
    if missing:
        raise GenerationError(
            f"{INTERPRETER} no longer has {', '.join(missing)}, which the safe layer wraps",
            "extend templates/shim and templates/rust for the replacement methods",
        )
    # The shim calls each wrapped method with exactly these arguments.
    arity = {"input": 1, "output": 1}
    for method in interp.methods:
        if method.name not in WRAPPED_METHODS:
            continue
        required = [p for p in method.params if p.default is None]
        if len(required) > arity.get(method.name, 0) and not any(
            len([p for p in other.params if p.default is None]) <= arity.get(method.name, 0)
            for other in interp.methods
            if other.name == method.name
        ):
            params = ", ".join(f"{p.type} {p.name}" for p in required)
            raise GenerationError(
                f"{INTERPRETER}::{method.name} now requires ({params}); the shim calls it "
                f"with {arity.get(method.name, 0)} argument(s)",
                f"extend templates/shim/tflm_shim.cc.j2 to pass the new arguments of "
                f"{method.name}, then regenerate",
            )

    ops: dict[str, Op] = {}
    custom = False
    for method in resolver.methods:
        if not method.name.startswith("Add"):
            continue
        if method.name == "AddCustom":
            custom = True
            continue
        if all(p.default is not None for p in method.params):
            rust = snake(method.name)
            ops[method.name] = Op(method.name, rust, f"tflm_op_resolver_{rust}")
    if not ops:
        raise GenerationError(
            f"{RESOLVER} has no Add* method callable without arguments",
            "extend templates/shim for the new registration style",
        )
    _check_resolver_interface(model)
    debug_log, vsnprintf = _debug_log(model)
    arena = _arena_guard(model, interp, reporter) if "initialization_status" in names else None
    guard = arena is not None
    return GenPlan(
        commit=commit,
        ops=tuple(ops[k] for k in sorted(ops)),
        ctor_args=ctor_args,
        methods=frozenset(m for m in WRAPPED_METHODS if m in names),
        needs_error_reporter=reporter,
        custom_op=custom,
        resolver_capacity=resolver_capacity,
        debug_log=debug_log,
        debug_vsnprintf=vsnprintf,
        arena_guard=guard,
        arena_class=(arena or _NO_ARENA)[0],
        arena_header=(arena or _NO_ARENA)[1],
        arena_api=(arena or _NO_ARENA)[2],
        arena_planner=(arena or _NO_ARENA)[3],
        graph_state=_graph_state(model),
        per_channel=isinstance(model.get("TfLiteAffineQuantization"), RecordEntity),
        profiler=guard and _profiler(model, interp),
        resource_variables=guard and _resource_variables(model, interp),
    )


#: The pure virtual methods of tflite::MicroOpResolver the shim's table resolver
#: implements, with their parameters.
_RESOLVER_INTERFACE: dict[str, tuple[tuple[str, ...], ...]] = {
    "FindOp": (("BuiltinOperator",), ("const char *",)),
    "GetOpDataParser": (("BuiltinOperator",),),
}


def _check_resolver_interface(model: ApiModel) -> None:
    """The shim implements MicroOpResolver itself (a table sized by the caller): every
    pure virtual method must be one it overrides."""
    entity = model.get("tflite::MicroOpResolver")
    if not isinstance(entity, RecordEntity):
        raise GenerationError(
            "tflite::MicroOpResolver is missing: the shim's op table implements it",
            "extend templates/shim/tflm_shim.cc.j2 (TableResolver) for the new resolver interface",
        )
    pure = [m for m in entity.methods if "pure" in m.flags]
    known = {
        (m.name, tuple(p.canonical for p in m.params))
        for m in pure
        if any(
            len(m.params) == len(want)
            and all(w in p.canonical for w, p in zip(want, m.params, strict=True))
            for want in _RESOLVER_INTERFACE.get(m.name, ())
        )
    }
    unknown = [
        m.display() for m in pure if (m.name, tuple(p.canonical for p in m.params)) not in known
    ]
    if unknown or len(known) != 3:
        raise GenerationError(
            "tflite::MicroOpResolver's pure virtual methods are now "
            + "; ".join(m.display() for m in pure)
            + " (the shim's TableResolver implements FindOp(BuiltinOperator), "
            "FindOp(const char*) and GetOpDataParser(BuiltinOperator))",
            "extend templates/shim/tflm_shim.cc.j2 (TableResolver) for the new resolver interface",
        )


def _profiler(model: ApiModel, interp: RecordEntity) -> bool:
    profiler = _methods(model, "tflite::MicroProfilerInterface")
    return (
        _takes(profiler.get("BeginEvent", ()), "const char *")
        and _takes(profiler.get("EndEvent", ()), "unsigned int")
        and _takes(
            interp.constructors,
            "Model",
            "MicroOpResolver",
            "MicroAllocator *",
            "MicroResourceVariables *",
            "MicroProfilerInterface *",
        )
    )


def _resource_variables(model: ApiModel, interp: RecordEntity) -> bool:
    variables = _methods(model, "tflite::MicroResourceVariables")
    return _takes(variables.get("Create", ()), "MicroAllocator *", "int") and _takes(
        interp.constructors,
        "Model",
        "MicroOpResolver",
        "MicroAllocator *",
        "MicroResourceVariables *",
    )


def _methods(model: ApiModel, name: str) -> dict[str, tuple[Function, ...]]:
    entity = model.get(name)
    if not isinstance(entity, RecordEntity):
        return {}
    found: dict[str, tuple[Function, ...]] = {}
    for method in entity.methods:
        found[method.name] = (*found.get(method.name, ()), method)
    return found


def _takes(functions: tuple[Function, ...], *wanted: str) -> bool:
    """Some overload's parameters are, in order, of the `wanted` types (canonical spelling
    containing each string), with every further parameter defaulted."""
    for function in functions:
        params = function.params
        if len(params) < len(wanted) or any(p.default is None for p in params[len(wanted) :]):
            continue
        if all(w in p.canonical for w, p in zip(wanted, params, strict=False)):
            return True
    return False


#: The SingleArenaBufferAllocator methods the shim's GuardedArena overrides, with their
#: parameters: an upstream change to any of them turns the guard off (and the plan says so).
_GUARDED_ALLOCATIONS: dict[str, tuple[str, ...]] = {
    "AllocatePersistentBuffer": ("unsigned long", "unsigned long"),
    "AllocateTemp": ("unsigned long", "unsigned long"),
    "AllocateResizableBuffer": ("unsigned long", "unsigned long"),
    "ResizeBuffer": ("unsigned char *", "unsigned long", "unsigned long"),
    "ReserveNonPersistentOverlayMemory": ("unsigned long", "unsigned long"),
    "GetUsedBytes": (),
    "GetPersistentUsedBytes": (),
    "GetAvailableMemory": ("unsigned long",),
}


#: What the plan names when there is no guard (nothing renders it).
_NO_ARENA = (
    "SingleArenaBufferAllocator",
    "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.h",
    "buffer",
    True,
)
#: The arena allocator classes the guard can derive from, newest first.
_ARENA_CLASSES = ("SingleArenaBufferAllocator", "SimpleMemoryAllocator")
#: The methods the shim's GuardedArena overrides or calls in each allocator API, with their
#: parameters: an upstream change to any of them turns the guard off (and the plan says so).
_ARENA_APIS: dict[str, dict[str, tuple[str, ...]]] = {
    "buffer": {
        **_GUARDED_ALLOCATIONS,
    },
    "head_tail": {
        "AllocateFromTail": ("unsigned long", "unsigned long"),
        "AllocateTemp": ("unsigned long", "unsigned long"),
        "SetHeadBufferSize": ("unsigned long", "unsigned long"),
        "GetUsedBytes": (),
        "GetTailUsedBytes": (),
        "GetAvailableMemory": ("unsigned long",),
    },
}


def _arena_guard(
    model: ApiModel, interp: RecordEntity, reporter: bool
) -> tuple[str, str, str, bool] | None:
    """The (class, header, API, planner) the guarded arena derives from, or None when this
    API lacks a piece: an allocator whose every allocation is a virtual the guard
    overrides, MicroAllocator::Create over it (and over a GreedyMemoryPlanner built without
    arguments, where Create takes a planner), and an interpreter constructor taking the
    allocator (each with the ErrorReporter* of pre-2022-09 pins when the interpreter's arena
    constructor takes one)."""
    planner = model.get("tflite::GreedyMemoryPlanner")
    default_planner = isinstance(planner, RecordEntity) and (
        not planner.constructors or any(not c.params for c in planner.constructors)
    )
    allocator = _methods(model, "tflite::MicroAllocator")
    extra = ("ErrorReporter *",) if reporter else ()
    if not _takes(interp.constructors, "Model", "MicroOpResolver", "MicroAllocator *", *extra):
        return None
    for name in _ARENA_CLASSES:
        entity = model.get(f"tflite::{name}")
        if not isinstance(entity, RecordEntity):
            continue
        if not any(
            _takes((c,), *extra, "unsigned char *", "unsigned long") for c in entity.constructors
        ):
            continue
        creates = allocator.get("Create", ())
        if default_planner and _takes(creates, f"{name} *", "MicroMemoryPlanner *", *extra):
            with_planner = True
        elif _takes(creates, f"{name} *", *extra):
            with_planner = False
        else:
            continue
        arena = _methods(model, f"tflite::{name}")
        for api, wanted in _ARENA_APIS.items():
            if all(_takes(arena.get(m, ()), *p) for m, p in wanted.items()):
                return name, entity.header, api, with_planner
    return None


def _graph_state(model: ApiModel) -> bool:
    context = _methods(model, "tflite::MicroInterpreterContext")
    graph = _methods(model, "tflite::MicroInterpreterGraph")
    # MicroInterpreter::context() is protected, so the model does not list it: the shim
    # reaches it through a subclass, and its compile would fail were it gone.
    return (
        "GetInterpreterState" in context
        and "graph" in _methods(model, "tflite::MicroContext")
        and {"GetCurrentSubgraphIndex", "GetCurrentOperatorIndex"} <= graph.keys()
        and isinstance(model.get("tflite::GetMicroContext"), FunctionEntity)
    )


def _debug_log(model: ApiModel) -> tuple[str, bool]:
    """Which `DebugLog` the pinned debug_log.h declares (the shim replaces upstream's
    debug_log.cc, which writes to stderr, with one that calls a Rust callback)."""
    entity = model.get("DebugLog")
    if not isinstance(entity, FunctionEntity) or len(entity.overloads) != 1:
        raise GenerationError(
            "DebugLog is not one function in the API model",
            "extend templates/shim/tflm_shim.cc.j2 for the new platform log hook",
        )
    params = [p.canonical for p in entity.overloads[0].params]
    vsnprintf = isinstance(model.get("DebugVsnprintf"), FunctionEntity)
    if len(params) == 2 and "char" in params[0] and "va_list" in entity.overloads[0].params[1].type:
        return "format", vsnprintf
    if len(params) == 1 and "char" in params[0]:
        return "string", vsnprintf
    shown = entity.overloads[0].params
    raise GenerationError(
        f"DebugLog now takes ({', '.join(p.type for p in shown)}); the shim implements "
        "DebugLog(const char*) or DebugLog(const char*, va_list)",
        "extend templates/shim/tflm_shim.cc.j2 for the new DebugLog signature",
    )
