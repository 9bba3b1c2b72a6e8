"""benchmarks/profile_summary.py: a real CPU profile of train.py's train step, and a
GPU-shaped trace (made here, as no GPU runs the tests) for the device-stream path."""

import gzip
import json

import jax
import pytest

from benchmarks import profile_summary
import benchmark


@pytest.mark.slow  # compiles and profiles a train step: about 20 s
def test_resnet20_train_step_profile_on_cpu(tmp_path):
  steps = benchmark.CompiledSteps('resnet20', batch_size=8)
  compiled, train_once = steps.compiled_train, steps.train_once
  jax.block_until_ready(train_once())  # the first run's one-off costs stay out of the trace
  trace = profile_summary.profile(train_once, steps=2, logdir=str(tmp_path))
  assert trace.endswith('perfetto_trace.json.gz')

  summary = profile_summary.summarize(trace, steps=2, hlo_text=compiled.as_text())
  categories = summary['categories']
  assert set(categories) == set(profile_summary.CATEGORIES)
  assert summary['total_seconds'] > 0
  assert sum(c['share'] for c in categories.values()) == pytest.approx(1.0)
  assert sum(c['seconds'] for c in categories.values()) == pytest.approx(summary['total_seconds'])
  assert categories['convolution']['seconds'] > 0
  assert categories['batchnorm/elementwise']['seconds'] > 0
  assert categories['collective']['seconds'] > 0  # the gradient and BatchNorm pmeans
  assert summary['devices'] == jax.device_count()
  assert 'jit_train_step' in summary['modules']
  assert 0 < len(summary['top_ops']) <= 10
  assert summary['top_ops'][0]['seconds'] >= summary['top_ops'][-1]['seconds']

  # Without the HLO, op names still find the convolutions XLA did not fuse; the
  # ones inside XLA:CPU's library fusions ("ynn_fusion.12") only the HLO shows.
  by_name = profile_summary.summarize(trace, steps=2)
  assert by_name['total_seconds'] == pytest.approx(summary['total_seconds'])
  assert 0 < by_name['categories']['convolution']['seconds'] <= (
      categories['convolution']['seconds'])

  text = profile_summary.format_summary(summary)
  print(text)
  assert '| category | ms per step | share |' in text
  for category in profile_summary.CATEGORIES:
    assert f'| {category} |' in text


# A GPU trace as jax.profiler writes it: the host process, a device process whose
# stream lines hold the kernels, and a derived "XLA Ops" line that repeats them.
# In the HLO, the reducer's instruction reuses an entry instruction's name, as
# fused computations and reducers may: only the entry's may count.
GPU_HLO = """HloModule jit_train_step, entry_computation_layout={()->f32[]}

%fused_computation.1 (param_0: f32[8,16]) -> f32[8,16] {
  %param_0 = f32[8,16]{1,0} parameter(0)
  ROOT %transpose.3 = f32[8,16]{1,0} transpose(f32[8,16]{1,0} %param_0), dimensions={1,0}
}

ENTRY %main.9 (p: f32[8,16]) -> f32[] {
  %p = f32[8,16]{1,0} parameter(0)
  %custom-call.2 = (f32[8,16], u8[0]) custom-call(%p), custom_call_target="__cudnn$convForward"
  %custom-call.5 = (f32[8,16], s8[4]) custom-call(%p), custom_call_target="__cublas$gemm"
  %loop_transpose_fusion = f32[8,16] fusion(%p), kind=kLoop, calls=%fused_computation.1
  ROOT %r = f32[] reduce(f32[8,16]{1,0} %p, f32[] %p), dimensions={0,1}, to_apply=%region_add
}

%region_add (a: f32[], b: f32[]) -> f32[] {
  %a = f32[] parameter(0)
  %b = f32[] parameter(1)
  ROOT %custom-call.2 = f32[] add(f32[] %a, f32[] %b)
}
"""


def gpu_trace_events():
  def kernel(tid, ts, dur, name, hlo_op=None):
    args = {'correlation_id': '1', 'hlo_module': 'jit_train_step'}
    if hlo_op:
      args['hlo_op'] = hlo_op
    return {'ph': 'X', 'pid': 1, 'tid': tid, 'ts': ts, 'dur': dur, 'name': name, 'args': args}

  device = [
      # cuDNN's convolution kernel: its name says gemm, its HLO op (a custom-call) says conv.
      kernel(13, 0, 40, 'sm90_xmma_fprop_implicit_gemm_f32f32_tf32f32_f32_nhwckrsc_nhwc',
             'custom-call.2'),
      kernel(13, 40, 20, 'nvjet_tst_64x8_64x16_4x1_v_bz_TNT', 'custom-call.5'),
      kernel(13, 60, 8, 'loop_transpose_fusion', 'loop_transpose_fusion'),
      # Inside a command buffer the HLO op is the buffer; the kernel name decides.
      kernel(13, 70, 10, 'loop_convert_multiply_fusion_2', 'command_buffer.4'),
      kernel(13, 80, 6, 'sm80_xmma_wgrad_implicit_gemm_indexed_f32f32', 'command_buffer.4'),
      kernel(13, 90, 5, 'input_reduce_fusion_1'),
      kernel(15, 50, 7, 'ncclDevKernel_AllReduce_Sum_f32_RING_LL', 'all-reduce-start.1'),
      kernel(14, 100, 4, 'MemcpyD2H'),
      kernel(13, 110, 1, 'some_unknown_kernel'),
  ]
  derived = [dict(e, tid=10001) for e in device]  # "XLA Ops": the same time again
  return [
      {'ph': 'M', 'pid': 701, 'name': 'process_name', 'args': {'name': '/host:CPU'}},
      {'ph': 'M', 'pid': 1, 'name': 'process_name', 'args': {'name': '/device:GPU:0'}},
      {'ph': 'M', 'pid': 1, 'tid': 13, 'name': 'thread_name',
       'args': {'name': 'Stream #13(Compute)'}},
      {'ph': 'M', 'pid': 1, 'tid': 14, 'name': 'thread_name',
       'args': {'name': 'Stream #14(MemcpyD2H)'}},
      {'ph': 'M', 'pid': 1, 'tid': 15, 'name': 'thread_name', 'args': {'name': 'Stream #15(Nccl)'}},
      {'ph': 'M', 'pid': 1, 'tid': 10001, 'name': 'thread_name', 'args': {'name': 'XLA Ops'}},
      # The host's launch of a kernel names its HLO op too, and must not count.
      {'ph': 'X', 'pid': 701, 'tid': 3, 'ts': 0, 'dur': 500, 'name': 'custom-call.2',
       'args': {'hlo_op': 'custom-call.2'}},
      *device, *derived, {},
  ]


def write_trace(path, events):
  with gzip.open(path, 'wt', encoding='utf-8') as f:
    json.dump({'displayTimeUnit': 'ns', 'traceEvents': events}, f)
  return str(path)


def milliseconds(summary):
  return {c: round(entry['seconds'] * 1e3, 6) for c, entry in summary['categories'].items()}


def test_parse_hlo_ops_reads_what_the_runtime_runs():
  ops = profile_summary.parse_hlo_ops(GPU_HLO)
  assert ops['custom-call.2'] == {'custom-call', '__cudnn$convForward'}
  assert ops['loop_transpose_fusion'] == {'fusion', 'parameter', 'transpose'}
  assert ops['custom_call_5'] == ops['custom-call.5']  # as GPU kernels are named
  assert 'param_0' not in ops and 'a' not in ops  # fused computations and reducers


def test_gpu_trace_counts_each_stream_kernel_once(tmp_path):
  trace = write_trace(tmp_path / 'gpu.trace.json.gz', gpu_trace_events())
  summary = profile_summary.summarize(trace, steps=1, hlo_text=GPU_HLO)
  assert summary['devices'] == 1
  assert summary['total_seconds'] == pytest.approx(101e-6)
  assert milliseconds(summary) == {
      'convolution': 0.046, 'matmul': 0.020, 'batchnorm/elementwise': 0.015,
      'collective': 0.007, 'copy/transpose': 0.012, 'other': 0.001}
  top = {op['name']: op['category'] for op in summary['top_ops']}
  assert top['custom-call.2'] == 'convolution'
  assert top['loop_convert_multiply_fusion_2'] == 'batchnorm/elementwise'
  assert summary['span_seconds'] == pytest.approx(111e-6)

  # Without the HLO, the custom-calls' kernel names (cuDNN fprop, cuBLAS nvjet) decide.
  assert milliseconds(profile_summary.summarize(trace)) == milliseconds(summary)


@pytest.mark.parametrize('name, category', [
    ('conv_general_dilated.168', 'convolution'),
    ('cudnn-conv-bw-filter.3', 'convolution'),
    ('convert_multiply_fusion.4', 'batchnorm/elementwise'),
    ('dot_general.2', 'matmul'),
    ('cutlass_80_tensorop_s1688gemm_128x256_16x3_nn_align4', 'matmul'),
    ('psum_invariant.1113', 'collective'),
    ('all-reduce.5', 'collective'),
    ('transpose_copy_fusion.66', 'copy/transpose'),
    ('wrapped_broadcast', 'copy/transpose'),
    ('bitcast_rsqrt_fusion.18', 'batchnorm/elementwise'),
    ('ynn_fusion.3', 'batchnorm/elementwise'),
    ('custom-call.7', 'other'),
])
def test_category_of_name(name, category):
  assert profile_summary.category_of_name(name) == category


def test_unknown_trace_structure_is_other_or_empty(tmp_path):
  empty = write_trace(tmp_path / 'empty.json.gz', [{}, {'ph': 'X', 'name': 'no duration'}])
  summary = profile_summary.summarize(empty, steps=3)
  assert summary['total_seconds'] == 0 and summary['top_ops'] == []
  assert all(c['share'] == 0 for c in summary['categories'].values())
  assert 'ms per step' in profile_summary.format_summary(summary)

  odd = write_trace(tmp_path / 'odd.json.gz', [
      {'ph': 'X', 'pid': 1, 'tid': 1, 'ts': 0, 'dur': 5, 'name': 'mystery',
       'args': {'hlo_op': 'mystery.1'}},
      {'ph': 'X', 'pid': 1, 'tid': 1, 'ts': 1, 'dur': 2, 'name': 'inner',
       'args': {'hlo_op': 'unknown.2'}}])
  summary = profile_summary.summarize(odd)
  # Nested events count once: the inner one's time leaves the outer one's.
  assert summary['total_seconds'] == pytest.approx(5e-6)
  assert summary['categories']['other']['share'] == 1.0
