"""The training machinery under train.py, one concept per module.

configuration   config fields' rules, validation, the field list, unknown fields
optimizers      learning-rate schedules and optimisers from the config
steps           TrainState, losses, the data-parallel train and eval steps (views, ensembles; no TensorFlow)
checkpoints     orbax manager, save, restore, restore_eval_model; run descriptions
workdir         the run folder: writable check, run.json (the run's status)
metric_writers  metrics.jsonl as a clu writer, beside TensorBoard
metrics_file    reading metrics.jsonl (standard library only)
step_metrics    device metrics fetched at log time, the non-finite check, log summaries
progress        the console lines, throughput and ETA
preemption      SIGTERM/SIGINT as a clean stop after the current step
distributed     jax.distributed set-up and the replica agreement check
xla_flags       default XLA flags, set before JAX starts
compilation_cache  JAX's persistent compilation cache (on by default) and the compile timer
quiet_tensorflow   TensorFlow imported without its start-up notices
initialization  starting from other weights (init_from, rules, frozen variables)
"""
