"""Several processes as one job: train.py and distributed.py on this machine.

Two CPU processes on 127.0.0.1 form one JAX job (jax.distributed, gloo
collectives over TCP), each with the two simulated devices conftest.py gives
every subprocess: a global mesh of four devices. Each process reads half of
every global batch; process 0 alone prints, writes metrics and TensorBoard
events; both write their part of each orbax checkpoint.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from configs import default
from tests.helpers import REPO
from training import distributed, metrics_file, workdir
# A hung collective or a missing peer ends in JAX's own abort after its
# heartbeat timeout (100 s); this bounds the wait should that fail too.
TIMEOUT_S = 300
STEPS = 6


def free_port() -> int:
  """A TCP port nothing listens on now (the coordinator binds it moments later)."""
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def job_env() -> dict[str, str]:
  """This environment without any cluster's variables, so that JAX detects no cluster."""
  prefixes = ('SLURM_', 'OMPI_', 'PMI_', 'JAX_COORDINATOR', 'JAX_PROCESS', 'TPU_',
              'KUBERNETES_SERVICE_HOST')
  return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def run_together(commands: list[list[str]]) -> list[subprocess.CompletedProcess]:
  """Runs the commands at the same time from the repository root; all must end in time."""
  processes = [subprocess.Popen(command, cwd=REPO, env=job_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for command in commands]
  results = []
  try:
    for command, process in zip(commands, processes):
      stdout, stderr = process.communicate(timeout=TIMEOUT_S)
      results.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
  finally:
    for process in processes:  # a hung peer: kill it rather than leave it to the next test
      if process.poll() is None:
        process.kill()
        process.communicate()
  return results


def train_command(workdir, port: int, process_id: int, *args) -> list[str]:
  return [sys.executable, 'train.py', '--config=configs/quickstart.py', f'--workdir={workdir}',
          '--config.distributed=True', f'--config.coordinator_address=127.0.0.1:{port}',
          '--config.num_processes=2', f'--config.process_id={process_id}', *args]


@pytest.mark.e2e
@pytest.mark.slow
def test_two_processes_train_as_one_job(tmp_path):
  """A few steps, logged at each (where train.py checks that the replicas agree)."""
  port = free_port()
  chief, other = run_together([
      train_command(tmp_path, port, process_id, f'--config.num_train_steps={STEPS}',
                    '--config.log_every_steps=1') for process_id in (0, 1)])
  assert chief.returncode == 0, chief.stderr[-3000:]
  assert other.returncode == 0, other.stderr[-3000:]

  header = next(line for line in chief.stdout.splitlines() if ' parameters | ' in line)
  # The mesh spans both processes' devices; each process feeds half the batch.
  assert '4 cpu devices, 2 processes | batch 32 (16 per process)' in header, header
  progress = [line for line in chief.stdout.splitlines() if line.startswith('step ')]
  assert [line.split()[1] for line in progress] == [f'{s}/{STEPS}' for s in range(1, STEPS + 1)]
  assert f'done: {STEPS} steps' in chief.stdout
  # Process 1 trains in silence (gloo's own connection notices aside).
  assert not [line for line in other.stdout.splitlines()
              if line.startswith(('step ', 'eval ', 'done')) or ' parameters | ' in line]
  assert not [line for line in other.stderr.splitlines()
              if line.startswith(('error', 'Traceback'))], other.stderr[-3000:]

  # Metrics from process 0 only: one train event per step and the final eval, once each.
  events = metrics_file.read_events(str(tmp_path / 'metrics.jsonl'))
  assert [e['step'] for e in events if 'train_loss' in e] == list(range(1, STEPS + 1))
  assert [e['step'] for e in events if 'eval_accuracy' in e] == [STEPS]
  assert len(os.listdir(tmp_path / 'tensorboard')) == 1

  # One checkpoint, committed, with each process's part (orbax's multi-process save).
  assert os.listdir(tmp_path / 'checkpoints') == [str(STEPS)]
  state = tmp_path / 'checkpoints' / str(STEPS) / 'state'
  assert (tmp_path / 'checkpoints' / str(STEPS) / 'commit_success.txt').exists()
  assert {'ocdbt.process_0', 'ocdbt.process_1'} <= set(os.listdir(state))

  # evaluate.py as the same two-process job: each process evaluates its slice of the eval
  # split, and process 0 writes what train.py's own last evaluation measured.
  final = workdir.read_run_status(str(tmp_path))['last_eval']
  port = free_port()
  evaluations = run_together([
      [sys.executable, 'evaluate.py', f'--workdir={tmp_path}', '--config=configs/quickstart.py',
       '--config.distributed=True', f'--config.coordinator_address=127.0.0.1:{port}',
       '--config.num_processes=2', f'--config.process_id={process_id}',
       '--protocol=center,ten_crop', '--batch_size=7'] for process_id in (0, 1)])
  for evaluation in evaluations:
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
  center, ten_crop = json.loads((tmp_path / 'eval.json').read_text())['results']
  assert center['eval_accuracy'] == final['eval_accuracy'] and center['devices'] == 4
  assert ten_crop['num_examples'] == center['num_examples'] == 360
  assert 'center' in evaluations[0].stdout and 'center' not in evaluations[1].stdout

  # An ordinary checkpoint: one process resumes it.
  resumed = subprocess.run(
      [sys.executable, 'train.py', '--config=configs/quickstart.py', f'--workdir={tmp_path}',
       f'--config.num_train_steps={STEPS + 2}', '--config.log_every_steps=1'],
      cwd=REPO, env=job_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f'resuming at step {STEPS}' in resumed.stdout
  assert f'done: {STEPS + 2} steps' in resumed.stdout


# A two-process job that gives process 1 a parameter one float32 ulp away.
DIVERGING_REPLICAS = textwrap.dedent('''
    import sys
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import numpy as np
    from configs import default
    from training import distributed

    config = default.get_config()
    config.coordinator_address = sys.argv[1]
    config.num_processes, config.process_id = 2, int(sys.argv[2])
    distributed.initialize(config, timeout_s=60)
    replicated = NamedSharding(Mesh(np.array(jax.devices()), ('batch',)), P())
    params = {'dense': {'kernel': np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4),
                        'bias': np.zeros(4, np.float32)}}

    def on_devices(tree):
      return jax.tree.map(lambda x: jax.make_array_from_process_local_data(replicated, x), tree)

    distributed.replicas_agree(on_devices(params), step=1)
    print('step 1 agrees', flush=True)
    if jax.process_index() == 1:
      kernel = params['dense']['kernel']
      kernel[1, 2] = np.nextafter(kernel[1, 2], np.float32(2))
    try:
      distributed.replicas_agree(on_devices(params), step=2)
    except distributed.DistributedError as error:
      print(f'error: {error}', flush=True)
''')


def test_replicas_agree_catches_a_one_ulp_difference(tmp_path):
  script = tmp_path / 'diverging_replicas.py'
  script.write_text(f'import sys\nsys.path.insert(0, {REPO!r})\n' + DIVERGING_REPLICAS)
  address = f'127.0.0.1:{free_port()}'
  results = run_together([[sys.executable, str(script), address, str(process_id)]
                          for process_id in (0, 1)])
  for result in results:  # both processes reach the same verdict
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert 'step 1 agrees' in lines
    errors = [line for line in lines if line.startswith('error: ')]
    assert len(errors) == 1, result.stdout
    assert 'parameters differ between processes at step 2, first in dense/kernel' in errors[0]
    assert '1 of 2 arrays differ' in errors[0]


def test_replicas_agree_does_nothing_in_one_process():
  import jax.numpy as jnp
  distributed.replicas_agree({'w': jnp.ones(3)}, step=1)


def config_with(**fields):
  config = default.get_config()
  config.update(fields)
  return config


@pytest.mark.parametrize('fields, message', [
    (dict(coordinator_address='127.0.0.1:1234'),
     'config.num_processes, config.process_id must be set as well'),
    (dict(distributed=True, process_id=0), 'config.coordinator_address, config.num_processes '
     'must be set as well'),
    (dict(coordinator_address='127.0.0.1', num_processes=2, process_id=0),
     "config.coordinator_address='127.0.0.1' is not host:port"),
    (dict(coordinator_address='127.0.0.1:1234', num_processes=2, process_id=2),
     'config.process_id=2 is not allowed: use 0 to 1'),
    (dict(coordinator_address='127.0.0.1:1234', num_processes=0, process_id=0),
     'config.num_processes=0 is not allowed'),
])
def test_inconsistent_fields_are_refused(fields, message):
  with pytest.raises(distributed.DistributedError, match=message):
    distributed.initialize(config_with(**fields))


def test_one_process_config_does_nothing():
  distributed.initialize(default.get_config())  # would raise if it tried to connect


def test_unreachable_coordinator_is_an_error_not_a_hang():
  config = config_with(coordinator_address=f'127.0.0.1:{free_port()}', num_processes=2,
                       process_id=1)
  with pytest.raises(distributed.DistributedError, match='nothing answers at '
                     r"config.coordinator_address='127.0.0.1:\d+' after 1 s: start process 0"):
    distributed.initialize(config, timeout_s=1)


def test_taken_coordinator_port_is_an_error():
  """In a subprocess: should the check miss, jaxlib may crash on the taken port."""
  with socket.socket() as taken:
    taken.bind(('', 0))
    taken.listen()
    script = textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {REPO!r})
        from configs import default
        from training import distributed
        config = default.get_config()
        config.update(dict(coordinator_address='127.0.0.1:{taken.getsockname()[1]}',
                           num_processes=2, process_id=0))
        try:
          distributed.initialize(config, timeout_s=10)
        except distributed.DistributedError as error:
          print(f'error: {{error}}')
    ''')
    result = subprocess.run([sys.executable, '-c', script], env=job_env(), capture_output=True,
                            text=True, timeout=TIMEOUT_S)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'is taken on this host (process 0 runs the coordinator there)' in result.stdout


@pytest.mark.e2e
@pytest.mark.parametrize('args, message', [
    (['--config.distributed=True', '--config.coordinator_address=127.0.0.1:1234'],
     'config.num_processes, config.process_id must be set as well'),
    (['--config.distributed=True'], 'config.distributed=True but no cluster was detected'),
])
def test_bad_distributed_flags_get_one_line_and_exit_2(tmp_path, args, message):
  result = subprocess.run(
      [sys.executable, 'train.py', '--config=configs/quickstart.py',
       f'--workdir={tmp_path / "run"}', *args],
      cwd=REPO, env=job_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
  assert result.returncode == 2, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines() if line.startswith('error: ')]
  assert len(errors) == 1 and message in errors[0], result.stderr[-3000:]
  assert 'Traceback' not in result.stderr
