"""Several processes, one training job: JAX's multi-process runtime for train.py.

`initialize(config)` runs at the start of train.py, before JAX starts its
backends. It connects this process to the others of the job when the config
asks for it:

  * config.distributed=True alone: JAX detects the cluster from its environment.
    jax 0.10.2 detects Cloud TPU VMs (GCE and GKE TPU slices, multislice
    included), SLURM (srun), Open MPI (mpirun, via OMPI_MCA_orte_hnp_uri) and,
    with the `kubernetes` package installed, Kubernetes JobSets; mpi4py is opt-in
    only and not tried. JAX_COORDINATOR_ADDRESS and JAX_COORDINATOR_PORT, where
    set, override the detected coordinator.
  * config.coordinator_address, config.num_processes and config.process_id,
    all three on every process: no detection, e.g. two processes on one machine:

      python train.py ... --config.coordinator_address=127.0.0.1:1234 \
          --config.num_processes=2 --config.process_id=0   # and =1 in the other

After it, `jax.devices()` lists every device of every process and train.py's
mesh spans them all. On CPUs, cross-process all-reduces go through gloo over
TCP (jax_cpu_collectives_implementation); without a cross-process
implementation the first step fails with "Multiprocess computations aren't
implemented on the CPU backend".

`replicas_agree(tree, step)` checks that the processes still hold the same
replicated parameters; train.py calls it at each log step of a multi-process run.

JAX reports most failures to connect by aborting the process (a C++ fatal log
naming DEADLINE_EXCEEDED), and a taken coordinator port can crash it, so the
common mistakes are checked here first and answered with a DistributedError:
fields set partly or inconsistently, a coordinator that never answers (checked
by processes 1 and up), a taken port (checked by process 0). What stays JAX's
to report: a process that never joins makes the others abort after
INITIALIZATION_TIMEOUT_S, and one that dies mid-run makes the others abort
after JAX's heartbeat timeout (100 s).
"""

import errno
import os
import socket
import time
from typing import Any

import jax
from jax.experimental import multihost_utils
import numpy as np

# How long a process waits for the coordinator and for the other processes:
# JAX's default, long enough for a cluster scheduler that starts hosts minutes
# apart, short enough that a missing peer does not hang a job for good.
INITIALIZATION_TIMEOUT_S = 300

# Parameters are checksummed this many elements at a time, so that a large leaf
# (VGG-16's first dense kernel has 103M) needs no float64 copy of its own size.
_CHECKSUM_CHUNK = 1 << 20


class DistributedError(ValueError):
  """The multi-process set-up cannot work; the message says what to change."""


def _explicit_fields(config) -> dict[str, bool]:
  """Which of the three connection fields the config sets (away from its default)."""
  return {
      'coordinator_address': config.coordinator_address != '',
      'num_processes': config.num_processes != -1,
      'process_id': config.process_id != -1,
  }


def _parse_address(address: str) -> tuple[str, int]:
  """(host, port) of 'host:port'; '[::1]:1234' style IPv6 addresses too."""
  host, sep, port = address.rpartition(':')
  if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
    raise DistributedError(
        f'config.coordinator_address={address!r} is not host:port: use e.g. 10.0.0.1:1234, '
        'the address of process 0 and a free port there')
  return host.strip('[]'), int(port)


def _validate_explicit(config) -> None:
  """Checks the three connection fields, set together and consistent."""
  given = _explicit_fields(config)
  missing = [f'config.{field}' for field, is_set in given.items() if not is_set]
  if missing:
    raise DistributedError(
        f'{", ".join(missing)} must be set as well: give coordinator_address, num_processes '
        'and process_id together on every process, or none of them to detect the cluster')
  _parse_address(config.coordinator_address)
  if config.num_processes < 1:
    raise DistributedError(f'config.num_processes={config.num_processes} is not allowed: use '
                           'the number of processes of the job, 1 or more')
  if not 0 <= config.process_id < config.num_processes:
    raise DistributedError(
        f'config.process_id={config.process_id} is not allowed: use 0 to '
        f'{config.num_processes - 1}, a different one on each process (0 runs the coordinator)')


def _wait_for_coordinator(address: str, timeout_s: float) -> None:
  """Returns once something listens at `address`; raises DistributedError after timeout_s.

  Every process but 0 runs this before handing over to JAX: JAX's own connection
  attempts end, on a wrong address or a process 0 that never started, in a
  process abort after the timeout rather than an exception.
  """
  host, port = _parse_address(address)
  try:
    socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
  except socket.gaierror as error:
    raise DistributedError(
        f'config.coordinator_address={address!r}: cannot resolve host {host!r} '
        f'({error.strerror}): use the host name or IP address of process 0') from None
  deadline = time.monotonic() + timeout_s
  while True:
    try:
      with socket.create_connection((host, port), timeout=5):
        return
    except OSError:
      if time.monotonic() >= deadline:
        raise DistributedError(
            f'nothing answers at config.coordinator_address={address!r} after {timeout_s:g} s: '
            'start process 0 (config.process_id=0) with the same address, and check its host '
            'and port') from None
      time.sleep(0.5)


def _check_port_free(address: str) -> None:
  """Raises DistributedError when the coordinator's port is taken on this host.

  Process 0 runs this before handing over to JAX: JAX's coordinator binds the
  port on every interface, and on a taken port jaxlib 0.10.2 either raises or,
  as often, crashes the process with a segmentation fault.
  """
  if os.environ.get('JAX_COORDINATOR_BIND_ADDRESS'):  # JAX binds elsewhere then
    return
  _, port = _parse_address(address)
  for family, any_host in ((socket.AF_INET6, '::'), (socket.AF_INET, '')):
    try:
      probe = socket.socket(family, socket.SOCK_STREAM)
    except OSError:  # no IPv6 on this host: try IPv4
      continue
    with probe:
      # As gRPC does: a port left in TIME_WAIT by an earlier run counts as free.
      probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      try:
        probe.bind((any_host, port))
      except OSError as error:
        if error.errno != errno.EADDRINUSE:
          continue
        raise DistributedError(
            f'port {port} of config.coordinator_address={address!r} is taken on this host '
            '(process 0 runs the coordinator there): pick a free port, the same on every '
            'process') from None
      return


def _ensure_cpu_collectives() -> None:
  """Gives the CPU backend a cross-process all-reduce: gloo, unless one is chosen.

  jax 0.10.2 already defaults to gloo; this keeps a multi-process CPU run
  working where the option was cleared. It only touches the CPU backend, so it
  is harmless on GPU and TPU machines, and it reads no devices (that would start
  the backends, after which initialize() is refused).
  """
  if jax.config.jax_cpu_collectives_implementation is None:
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')


def initialize(config, timeout_s: float = INITIALIZATION_TIMEOUT_S) -> None:
  """Joins this process to the job's others, when the config asks for several processes.

  Does nothing unless config.distributed is True or one of coordinator_address,
  num_processes and process_id is set. Must run before anything that starts a
  JAX backend (jax.devices(), any computation); a second call does nothing.

  Args:
    config: the run's config (configs/default.py): distributed, coordinator_address,
      num_processes, process_id.
    timeout_s: how long to wait for the coordinator and the other processes.

  Raises:
    DistributedError: the fields are inconsistent, no cluster is detected, the
      coordinator cannot be reached or its port cannot be opened.
  """
  given = _explicit_fields(config)
  if not config.distributed and not any(given.values()):
    return
  if jax.distributed.is_initialized():
    return
  if not any(given.values()):
    _ensure_cpu_collectives()
    try:
      jax.distributed.initialize(initialization_timeout=int(timeout_s))
    except ValueError:  # JAX found no cluster to take the three values from
      raise DistributedError(
          'config.distributed=True but no cluster was detected (Cloud TPU, SLURM, Open MPI, '
          'Kubernetes): set config.coordinator_address, num_processes and process_id on every '
          'process') from None
    except jax.errors.JaxRuntimeError as error:
      raise DistributedError(f'cannot join the job JAX detected ({_first_line(error)}): check '
                             'the cluster environment, or set the three fields') from None
    return

  _validate_explicit(config)
  _ensure_cpu_collectives()
  address = config.coordinator_address
  if config.process_id == 0:
    _check_port_free(address)
  else:
    _wait_for_coordinator(address, timeout_s)
  try:
    jax.distributed.initialize(address, config.num_processes, config.process_id,
                               initialization_timeout=int(timeout_s))
  except jax.errors.JaxRuntimeError as error:
    hint = ('pick another port in config.coordinator_address, the same on every process'
            if config.process_id == 0 else
            'check that process 0 runs with the same config.coordinator_address')
    raise DistributedError(
        f'cannot join the {config.num_processes}-process job at {address} as process '
        f'{config.process_id} ({_first_line(error)}): {hint}') from None


def _first_line(error: Exception) -> str:
  """The first line of a runtime error's message (XLA appends RPC details below it)."""
  lines = str(error).strip().splitlines()
  return lines[0] if lines else type(error).__name__


# --- Replica agreement ------------------------------------------------------------------


def _checksum(leaf) -> tuple[float, float]:
  """Float64 sum and sum of squares of this process's first copy of a leaf.

  Accumulating in float64 makes even a one-ulp change of a float32 element show
  in the sum of squares (for leaves under ~1e9 elements).
  """
  if isinstance(leaf, jax.Array):
    leaf = leaf.addressable_data(0)
  values = np.asarray(leaf).reshape(-1)
  total = total_of_squares = 0.0
  for start in range(0, values.size, _CHECKSUM_CHUNK):
    chunk = values[start:start + _CHECKSUM_CHUNK].astype(np.float64)
    total += float(np.sum(chunk))
    total_of_squares += float(np.sum(chunk * chunk))
  return total, total_of_squares


def _is_replicated(leaf) -> bool:
  """Whether every device holds the whole leaf (a sharded leaf differs by design)."""
  return not isinstance(leaf, jax.Array) or leaf.sharding.is_fully_replicated


def replicas_agree(tree: Any, step: int) -> None:
  """Raises DistributedError unless every process holds the same replicated leaves.

  Data-parallel replicas apply the same all-reduced gradients with the same
  program, so their parameters stay bitwise identical; a difference means a
  process has diverged (another seed, another code version, a missed update)
  and its checkpoints and metrics would not describe the others. Each process
  checksums its first copy of every fully replicated leaf on the host and the
  checksums are gathered from every process and compared exactly. Every process
  reaches the same verdict, so all stop together rather than one waiting for the
  others in a collective.

  A collective: every process must call it at the same steps. Does nothing in a
  single-process run.

  Args:
    tree: a pytree of jax.Arrays, e.g. the train state's params.
    step: the training step, for the message.

  Raises:
    DistributedError: names the first leaf whose checksums differ and the
      processes' values.
  """
  if jax.process_count() == 1:
    return
  leaves = [(path, leaf) for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
            if _is_replicated(leaf)]
  if not leaves:
    return
  sums = np.array([_checksum(leaf) for _, leaf in leaves], np.float64)
  # Gathered as bit patterns: without jax_enable_x64, JAX would round float64
  # checksums to float32 on the way, hiding small differences.
  gathered = multihost_utils.process_allgather(sums.view(np.uint32))
  gathered = np.asarray(gathered).view(np.float64)  # [process, leaf, (sum, sum of squares)]
  differs = np.any(gathered != gathered[:1], axis=(0, 2))
  if not differs.any():
    return
  first = int(np.argmax(differs))
  name = jax.tree_util.keystr(leaves[first][0], simple=True, separator='/')
  values = ', '.join(f'process {p}: sum {gathered[p, first, 0]:.17g}, sum of squares '
                     f'{gathered[p, first, 1]:.17g}' for p in range(gathered.shape[0]))
  raise DistributedError(
      f'parameters differ between processes at step {step}, first in {name} ({values}; '
      f'{int(differs.sum())} of {len(leaves)} arrays differ): the processes must run the same '
      'code and config')
