"""The `name(arg, ..., key=value)` calls that preprocessing ops and evaluation protocols are
written as: read without TensorFlow, so that loading a trained network for use
(trained/network.py) can read its recorded evaluation preprocessing anywhere JAX runs."""

import ast


def parse_call(text: str) -> tuple[str, tuple, dict] | None:
  """`name` or `name(arg, ..., key=value)` with literal arguments, as (name, args, kwargs);
  None where `text` is not such a call. Raises ValueError for non-literal arguments."""
  try:
    node = ast.parse(text if text.endswith(')') else f'{text}()', mode='eval').body
  except (SyntaxError, RecursionError, MemoryError):
    return None
  if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
    return None
  try:
    return (node.func.id, tuple(ast.literal_eval(a) for a in node.args),
            {k.arg: ast.literal_eval(k.value) for k in node.keywords})
  except RecursionError:
    raise ValueError(f'{text[:80]}: arguments nested too deeply') from None
