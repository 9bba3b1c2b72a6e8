r"""Where a compiled step's device time goes: convolutions, matmuls, BatchNorm/elementwise...

    # train_once() runs compiled_train (benchmark.py's) once and returns its metrics.
    trace = profile_summary.profile(train_once, steps=5, logdir='/tmp/profile')
    summary = profile_summary.summarize(trace, steps=5, hlo_text=compiled_train.as_text())
    print(profile_summary.format_summary(summary))

`profile` records `jax.profiler.trace`'s Perfetto/Chrome trace (JSON, readable
with the standard library, so no TensorFlow or tensorboard_plugin_profile is
needed). `summarize` sums the duration of the XLA ops that ran on the devices:

- GPU (and TPU): processes named "/device:GPU:N". Their "Stream #N(...)" lines
  hold the device's kernel and memcpy events (CUPTI); lines the profiler derives
  from them ("XLA Ops", "XLA Modules", "Steps", ...) are left out so that no
  kernel is counted twice. A device without stream lines (TPU) is read from its
  "XLA Ops" line.
- CPU: there are no device processes; XLA's thunk executor records each HLO op
  it runs as an event on a host thread ("tf_XLAEigen/..." or the caller's),
  with args `hlo_op`, `hlo_module` and `device_ordinal`. Those events are taken,
  the bookkeeping events ("end: <op>", "ThunkExecutor::Execute") are not.

Each event is put in a category by its HLO instruction: args `hlo_op` (else the
event name, which on GPU is the kernel name). With `hlo_text` (the optimised
HLO, `compiled.as_text()`) the opcodes inside each fusion decide, which is the
only way to see that a CPU "ynn_fusion.12" is a convolution or a reduction.
Without it the name decides: XLA names fusions after the ops they contain
("add_maximum_fusion"), cuDNN kernels say fprop/dgrad/wgrad, cuBLAS kernels
gemm. Anything unrecognised counts as 'other'.

Times are summed over events, not over wall time: kernels that overlap on two
streams both count, and idle gaps between kernels count nowhere (compare the
op time per step with `span_seconds`, first to last op over the trace).
"""

import collections
import functools
import gzip
import json
import os
import re
from typing import Any, Callable

import jax

CATEGORIES = ('convolution', 'matmul', 'batchnorm/elementwise', 'collective', 'copy/transpose',
              'other')

# Opcodes that only wrap or route values; they decide nothing about a fusion's kind.
_PLUMBING_OPS = frozenset({'fusion', 'parameter', 'constant', 'tuple', 'get-tuple-element',
                           'bitcast'})
# Ops that move or lay out data without arithmetic.
_COPY_OPS = frozenset({
    'copy', 'copy-start', 'copy-done', 'transpose', 'reshape', 'broadcast', 'slice',
    'dynamic-slice', 'dynamic-update-slice', 'concatenate', 'pad', 'reverse', 'gather', 'iota'})
_COLLECTIVE_OPS = ('all-reduce', 'all-gather', 'reduce-scatter', 'all-to-all',
                   'collective-permute', 'collective-broadcast', 'ragged-all-to-all')
# Ops that are neither arithmetic on tensors nor data movement.
_OTHER_OPS = frozenset({
    'custom-call', 'sort', 'while', 'call', 'conditional', 'rng', 'rng-bit-generator',
    'rng-get-and-update-state', 'infeed', 'outfeed', 'send', 'send-done', 'recv', 'recv-done',
    'after-all', 'fft', 'triangular-solve', 'cholesky', 'partition-id', 'replica-id', 'domain',
    'opt-barrier', 'optimization-barrier', 'async-start', 'async-update', 'async-done'})
# An hlo_op naming one of these wraps many kernels (a CUDA graph, a loop): the
# kernel's own name says more about what it computes.
_OPAQUE_OP = re.compile(r'^(command_buffer|command-buffer|call|while|conditional)([._-]\d+)*$')

# Name patterns, tried in order. "conv" must not match "convert"; cuDNN's
# convolution kernels are called *fprop/dgrad/wgrad/implicit_gemm*, so they are
# tried before the matmul pattern's "gemm".
_NAME_RULES = (
    ('convolution', re.compile(r'conv(?!ert)|fprop|dgrad|wgrad|winograd|implicit_gemm|'
                               r'implicit_convolve')),
    ('collective', re.compile(r'all[-_]?reduce|all[-_]?gather|reduce[-_]?scatter|'
                              r'all[-_]?to[-_]?all|collective[-_]permute|psum|pmean|nccl')),
    ('matmul', re.compile(r'(^|[^a-z])dot([^a-z]|$)|gemm|gemv|cublas|matmul|nvjet')),
)
# Words of a fusion or kernel name that mean data movement only.
_COPY_WORDS = frozenset({
    'copy', 'transpose', 'bitcast', 'reshape', 'broadcast', 'slice', 'dynamic', 'update',
    'concatenate', 'pad', 'reverse', 'gather', 'iota', 'memcpy', 'memset', 'memcpyh2d',
    'memcpyd2h', 'memcpyd2d', 'memcpyp2p', 'htod', 'dtoh', 'dtod', 'nchwtonhwckernel',
    'nhwctonchwkernel'})
# Words that name no op: fusion kinds and XLA's naming prefixes.
_FILLER_WORDS = frozenset({'fusion', 'fused', 'loop', 'input', 'output', 'wrapped', 'kernel',
                           'computation', 'clone', 'start', 'done'})
# Elementwise opcodes and their short spellings in names (BatchNorm is built of these).
_ELEMENTWISE_WORDS = frozenset({
    'add', 'subtract', 'sub', 'multiply', 'mul', 'divide', 'div', 'maximum', 'max', 'minimum',
    'min', 'select', 'compare', 'exponential', 'exp', 'log', 'rsqrt', 'sqrt', 'tanh', 'negate',
    'neg', 'convert', 'abs', 'power', 'pow', 'clamp', 'logistic', 'sign', 'floor', 'ceil',
    'round', 'and', 'or', 'xor', 'not', 'shift', 'erf', 'cosine', 'sine', 'remainder', 'atan2',
    'reduce', 'window', 'sum', 'mean', 'relu', 'elementwise', 'scatter', 'cbrt', 'expm1',
    'log1p', 'is', 'finite', 'popcnt', 'clz', 'real', 'imag', 'map'})


def profile(step_fn: Callable[[], Any], steps: int, logdir: str) -> str:
  """Runs `step_fn()` `steps` times under the JAX profiler; returns the trace file's path.

  `step_fn` returns something to wait on (e.g. the step's metrics). Compile and
  warm it up first: whatever the first call does (compiling, autotuning) would
  otherwise be profiled too. The steps are dispatched back to back and waited
  for once at the end, as benchmark.py times them.

  Returns the `perfetto_trace.json.gz` that `jax.profiler.trace` writes next to
  its `.xplane.pb` under `logdir/plugins/profile/<run>/` (ui.perfetto.dev opens it).
  """
  profile_root = os.path.join(logdir, 'plugins', 'profile')
  before = set(os.listdir(profile_root)) if os.path.isdir(profile_root) else set()
  with jax.profiler.trace(logdir, create_perfetto_trace=True):
    result = None
    for _ in range(steps):
      result = step_fn()
    jax.block_until_ready(result)
  # Each trace makes a timestamped run folder; a run within the same second as
  # an earlier one reuses its folder, so fall back to the newest folder.
  runs = [os.path.join(profile_root, name) for name in os.listdir(profile_root)]
  new_runs = [run for run in runs if os.path.basename(run) not in before]
  run = max(new_runs or runs, key=os.path.getmtime)
  path = os.path.join(run, 'perfetto_trace.json.gz')
  if not os.path.exists(path):
    raise FileNotFoundError(f'the profiler wrote no perfetto_trace.json.gz in {run}')
  return path


# --- Reading the trace -------------------------------------------------------------------


def load_trace_events(trace_path: str) -> list[dict]:
  """The `traceEvents` of a Chrome/Perfetto JSON trace, gzipped or not."""
  opener = gzip.open if trace_path.endswith('.gz') else open
  with opener(trace_path, 'rt', encoding='utf-8') as f:
    trace = json.load(f)
  events = trace.get('traceEvents', []) if isinstance(trace, dict) else trace
  return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


def _args(event: dict) -> dict:
  args = event.get('args')
  return args if isinstance(args, dict) else {}


def device_op_events(events: list[dict]) -> list[dict]:
  """The complete ('X') events of XLA ops run on the devices (see the module docstring)."""
  process_names, thread_names = {}, {}
  for e in events:
    if e.get('ph') != 'M':
      continue
    name = str(_args(e).get('name', ''))
    if e.get('name') == 'process_name':
      process_names[e.get('pid')] = name
    elif e.get('name') == 'thread_name':
      thread_names[(e.get('pid'), e.get('tid'))] = name
  complete = [e for e in events
              if e.get('ph') == 'X' and isinstance(e.get('dur'), (int, float))]
  device_pids = {pid for pid, name in process_names.items() if '/device:' in name}
  if not device_pids:
    # CPU: the thunk executor's op events are the ones that name their HLO op.
    return [e for e in complete if 'hlo_op' in _args(e)]
  selected = []
  for pid in device_pids:
    threads = {tid for (p, tid), name in thread_names.items() if p == pid}
    streams = {tid for tid in threads if thread_names[(pid, tid)].startswith('Stream')}
    xla_ops = {tid for tid in threads if thread_names[(pid, tid)] == 'XLA Ops'}
    on_device = [e for e in complete if e.get('pid') == pid]
    if streams:
      selected += [e for e in on_device if e.get('tid') in streams]
    elif xla_ops:
      selected += [e for e in on_device if e.get('tid') in xla_ops]
    else:
      selected += [e for e in on_device if 'hlo_op' in _args(e)]
  return selected


def _self_times(events: list[dict]) -> list[tuple[dict, float]]:
  """(event, microseconds) with nested events' time taken out of their parents'.

  An op that runs others inside it (a CPU while loop's thunk around its body)
  would otherwise be counted twice. Kernels on one GPU stream do not nest.
  """
  by_thread = collections.defaultdict(list)
  for e in events:
    by_thread[(e.get('pid'), e.get('tid'))].append(e)
  result = []
  for thread_events in by_thread.values():
    thread_events.sort(key=lambda e: (float(e.get('ts', 0)), -float(e['dur'])))
    stack = []  # [end, index into result] of the enclosing events
    for e in thread_events:
      start, dur = float(e.get('ts', 0)), float(e['dur'])
      while stack and stack[-1][0] <= start:
        stack.pop()
      if stack:
        parent = result[stack[-1][1]]
        result[stack[-1][1]] = (parent[0], parent[1] - min(dur, stack[-1][0] - start))
      result.append((e, dur))
      stack.append([start + dur, len(result) - 1])
  return [(e, max(us, 0.0)) for e, us in result]


# --- Categories ----------------------------------------------------------------------------


def _sanitized(name: str) -> str:
  """XLA's GPU kernel names are instruction names with '.' and '-' made '_'."""
  return re.sub(r'[.\-]', '_', name)


def parse_hlo_ops(hlo_text: str) -> dict[str, frozenset[str]]:
  """Instruction name -> the opcodes it runs, for the instructions a runtime executes.

  Those are the instructions of the entry computation and of the computations
  it runs in turn (loop bodies, branches, calls, command buffers), not of fused
  computations or reducers, whose names may repeat theirs. A fusion's set is the
  opcodes of its fused computation (nested fusions included); a custom-call's
  adds its target (e.g. `__cudnn$convForward`). Names are stored both as
  written and sanitised as GPU kernel names are.
  """
  instruction = re.compile(
      r'^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*.*?\s([a-z][a-z0-9\-]*)\((.*)$')
  computations = collections.defaultdict(list)  # name -> [(instruction, opcode, called, target)]
  inlined = set()  # computations that run inside one instruction: fusion bodies, reducers
  current = None
  for line in hlo_text.splitlines():
    header = re.match(r'^(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$', line)
    if header and not line.startswith((' ', '\t')):
      current = header.group(1)
      continue
    match = instruction.match(line)
    if not match or current is None:
      continue
    name, opcode, rest = match.groups()
    fused = re.findall(r'calls=%?([\w.\-]+)', rest) if opcode == 'fusion' else []
    applied = re.findall(r'to_apply=%?([\w.\-]+)', rest) if opcode != 'call' else []
    inlined.update(fused, applied)
    target = re.search(r'custom_call_target="([^"]*)"', rest)
    computations[current].append((name, opcode, tuple(fused), target.group(1) if target else ''))

  @functools.lru_cache(maxsize=None)
  def ops_of(opcode: str, fused: tuple[str, ...], target: str) -> frozenset[str]:
    ops = {opcode} | ({target} if target else set())
    for body in fused:
      for _, inner_opcode, inner_fused, inner_target in computations.get(body, ()):
        ops |= ops_of(inner_opcode, inner_fused, inner_target)
    return frozenset(ops)

  table = {}
  for computation, instructions in computations.items():
    if computation in inlined:
      continue
    for name, opcode, fused, target in instructions:
      table[name] = table[_sanitized(name)] = ops_of(opcode, fused, target)
  return table


def category_of_ops(ops: frozenset[str]) -> str:
  """The category of an HLO instruction from the opcodes (and custom-call targets) it runs."""
  lowered = {op.lower() for op in ops}
  if 'convolution' in lowered or any('conv' in op and op.startswith('__') for op in lowered):
    return 'convolution'
  if 'dot' in lowered or any(op.startswith('__') and re.search(r'gemm|matmul|cublas', op)
                             for op in lowered):
    return 'matmul'
  if any(op.startswith(_COLLECTIVE_OPS) for op in lowered):
    return 'collective'
  work = lowered - _PLUMBING_OPS
  work = {op for op in work if not op.startswith('__')}  # custom-call targets decided above
  if not work:
    return 'other'
  if work <= _COPY_OPS:
    return 'copy/transpose'
  if work <= _OTHER_OPS | _COPY_OPS:
    return 'other'
  return 'batchnorm/elementwise'


def category_of_name(name: str) -> str:
  """The category of an HLO op or kernel name alone (see the module docstring)."""
  lowered = name.lower()
  for category, pattern in _NAME_RULES:
    if pattern.search(lowered):
      return category
  words = set(re.split(r'[^a-z0-9]+', re.sub(r'[._-]\d+', ' ', lowered))) - {''}
  words = {w for w in words if not w.isdigit()} - _FILLER_WORDS
  if words and words <= _COPY_WORDS:
    return 'copy/transpose'
  if words & _ELEMENTWISE_WORDS or 'fusion' in lowered:
    return 'batchnorm/elementwise'
  return 'other'


def _op_and_category(event: dict, hlo_ops: dict[str, frozenset[str]]) -> tuple[str, str]:
  """(op name to report, category) of one device event.

  The HLO op decides, through the HLO text when it has the op, else through
  its name. A name that says nothing ("custom-call.3", a command buffer) leaves
  it to the event's own name, on GPU the kernel's: cuDNN's and cuBLAS's say
  what they compute.
  """
  hlo_op = str(_args(event).get('hlo_op', '') or '')
  name = str(event.get('name', ''))
  op = hlo_op if hlo_op and not _OPAQUE_OP.match(hlo_op) else name
  for candidate in (op, _sanitized(op), name, _sanitized(name)):
    if candidate in hlo_ops and not _OPAQUE_OP.match(candidate):
      return op, category_of_ops(hlo_ops[candidate])
  category = category_of_name(op)
  if category == 'other' and name != op:
    category = category_of_name(name)
  return op, category


# --- Summary -------------------------------------------------------------------------------


def summarize(trace_path: str, steps: int = 1, hlo_text: str | list[str] | None = None,
              top: int = 10) -> dict:
  """Device time per category and the top ops of a trace from `profile`.

  Args:
    trace_path: a Chrome/Perfetto trace JSON (`*.trace.json.gz`, `perfetto_trace.json.gz`).
    steps: how many steps the trace holds, to report time per step.
    hlo_text: optimised HLO text of the profiled program(s), `compiled.as_text()`,
      to categorise fusions by what they contain rather than by their names.
    top: how many of the longest ops to list.

  Returns:
    A dict with `categories` ({category: {'seconds', 'share'}}, every category
    present, shares summing to 1 when any time was found), `total_seconds` (all
    devices, all steps), `steps`, `devices` (devices that ran ops; per-step times
    are per device), `span_seconds` (first op start to last op end), `modules`
    ({hlo_module: seconds}) and `top_ops` (list of {'name', 'category',
    'seconds', 'count', 'share'}, longest first).
  """
  texts = [hlo_text] if isinstance(hlo_text, str) else list(hlo_text or [])
  hlo_ops = {}
  for text in texts:
    hlo_ops.update(parse_hlo_ops(text))
  events = device_op_events(load_trace_events(trace_path))
  seconds = dict.fromkeys(CATEGORIES, 0.0)
  op_seconds, op_counts, op_categories = collections.Counter(), collections.Counter(), {}
  modules = collections.Counter()
  devices = set()
  classified = {}  # (hlo_op, name) -> (op, category): a step repeats the same ops
  for event, micros in _self_times(events):
    args = _args(event)
    key = (args.get('hlo_op'), event.get('name'))
    if key not in classified:
      classified[key] = _op_and_category(event, hlo_ops)
    op, category = classified[key]
    duration = micros * 1e-6
    seconds[category] += duration
    op_seconds[op] += duration
    op_counts[op] += 1
    op_categories[op] = category
    modules[str(args.get('hlo_module', '?'))] += duration
    # A GPU's events are told apart by process, a CPU device's by its ordinal.
    devices.add((event.get('pid'), args.get('device_ordinal')) if 'device_ordinal' in args
                else (event.get('pid'), None))
  total = sum(seconds.values())
  if events:
    start = min(float(e.get('ts', 0)) for e in events)
    end = max(float(e.get('ts', 0)) + float(e['dur']) for e in events)
    span = (end - start) * 1e-6
  else:
    span = 0.0
  ordinals = {ordinal for _, ordinal in devices if ordinal is not None}
  device_count = len(ordinals) if ordinals else len({pid for pid, _ in devices})
  return {
      'categories': {c: {'seconds': s, 'share': s / total if total else 0.0}
                     for c, s in seconds.items()},
      'total_seconds': total,
      'steps': steps,
      'devices': max(device_count, 1),
      'span_seconds': span,
      'modules': dict(modules.most_common()),
      'top_ops': [{'name': op, 'category': op_categories[op], 'seconds': s,
                   'count': op_counts[op], 'share': s / total if total else 0.0}
                  for op, s in op_seconds.most_common(top)],
  }


def format_summary(summary: dict) -> str:
  """A markdown table of the categories (ms per step per device, share) and the top ops."""
  per_step = 1e3 / (max(summary['steps'], 1) * summary['devices'])
  lines = [f'Device op time over {summary["steps"]} steps on {summary["devices"]} '
           f'device(s): {summary["total_seconds"] * per_step:.3f} ms per step per device '
           f'(first to last op: {summary["span_seconds"] * 1e3 / max(summary["steps"], 1):.3f} '
           'ms per step).', '',
           '| category | ms per step | share |', '|---|---:|---:|']
  for category, entry in sorted(summary['categories'].items(), key=lambda kv: -kv[1]['seconds']):
    lines.append(f'| {category} | {entry["seconds"] * per_step:.3f} | {entry["share"]:.1%} |')
  lines += ['', '| top op | category | runs in trace | ms per step | share |',
            '|---|---|---:|---:|---:|']
  for op in summary['top_ops']:
    name = op['name'] if len(op['name']) <= 60 else op['name'][:57] + '...'
    lines.append(f'| `{name}` | {op["category"]} | {op["count"]} | '
                 f'{op["seconds"] * per_step:.3f} | {op["share"]:.1%} |')
  return '\n'.join(lines)
